r"""Trains the ConvLSTM2D gloss classifier on preprocessed shards.

    python -m training --tfrecord_glob='OUT/train-*' --val_tfrecord_glob='OUT/val-*' \
        --batch_size=2 --epochs=2 --model_dir=RUN

Rerunning the same command after a crash, a kill or Ctrl-C resumes from RUN/backup/ at the step
it was saved at; with a larger --epochs it continues a finished run. On several machines set
TF_CONFIG on each and add --strategy=multi_worker (see BUILD.md). --verbosity=debug shows
TensorFlow's own logs and full tracebacks.
"""

import json
import os

from absl import app, flags

from training import config as config_lib
from training import console


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        cfg = config_lib.from_flags(flags.FLAGS)
    except ValueError as e:
        raise app.UsageError(str(e))
    console.import_tensorflow()
    from training import trainer

    summary = trainer.train(cfg)
    print(json.dumps(summary, indent=2, sort_keys=True))


def on_interrupt() -> str:
    """What the same command does next: resume from the newest checkpoint, if one was written."""
    from training import checkpointing, run_folder

    model_dir = flags.FLAGS.model_dir
    step = checkpointing.latest_step(os.path.join(model_dir, run_folder.BACKUP_DIR))
    if step is None:
        return f"interrupted before the first checkpoint: the same command starts {model_dir} over"
    return f"interrupted: the same command resumes {model_dir} from its checkpoint at step {step}"


def console_main() -> None:
    """Entry point of `python -m training` and the `aslvid2gloss-train` console script."""
    console.run(main, config_lib.define_flags, __doc__, on_interrupt)


if __name__ == "__main__":
    console_main()
