r"""Trains the ConvLSTM2D gloss classifier on preprocessed shards.

    python -m training --tfrecord_glob='OUT/train-*' --val_tfrecord_glob='OUT/val-*' \
        --batch_size=2 --epochs=2 --model_dir=RUN

Rerunning the same command after a crash or a kill resumes from RUN/backup/. On several
machines set TF_CONFIG on each and add --strategy=multi_worker (see BUILD.md).
"""

import json
import sys

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
    try:
        summary = trainer.train(cfg)
    except (ValueError, FileNotFoundError, FloatingPointError) as e:
        # Bad input or a diverged run: the message names the file or flag; a traceback would not.
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2 if not isinstance(e, FloatingPointError) else 1)
    logging.info("train summary: %s", summary)
    print(json.dumps(summary, indent=2, sort_keys=True))


def console_main() -> None:
    """Entry point of the `aslvid2gloss-train` console script (setup.py)."""
    app.run(main)


if __name__ == "__main__":
    console_main()
