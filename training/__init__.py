"""Training side of aslvid2gloss: model, input pipeline, strategies, trainer, evaluate."""
