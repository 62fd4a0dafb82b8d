r"""Trains the ConvLSTM2D gloss classifier on preprocessed shards.

    python -m training --tfrecord_glob='OUT/train-*' --val_tfrecord_glob='OUT/val-*' \
        --batch_size=2 --epochs=2 --model_dir=RUN

Rerunning the same command after a crash or a kill resumes from RUN/backup/. On several
machines set TF_CONFIG on each and add --strategy=multi_worker (see BUILD.md).
"""

import json

from absl import app, flags, logging

from training import config as config_lib
from training import trainer

config_lib.define_flags()
# So that --helpshort lists them: they are defined in training.config, not in this module.
flags.adopt_module_key_flags(config_lib)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        cfg = config_lib.from_flags(flags.FLAGS)
    except ValueError as e:
        raise app.UsageError(str(e))
    summary = trainer.train(cfg)
    logging.info("train summary: %s", summary)
    print(json.dumps(summary, indent=2, sort_keys=True))


if __name__ == "__main__":
    app.run(main)
