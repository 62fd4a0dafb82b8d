"""Evaluates a run on shards: loss, top-1/5/10 accuracy per instance and mean per-class top-1.

    python -m training.evaluate --model_dir=RUN --tfrecord_glob='OUT/test-*'
    python -m training.evaluate --model_dir=RUN --tfrecord_glob='OUT/test-*' --checkpoint=best

Prints the metrics and writes them to RUN/eval_<split>.json (or --output). --checkpoint=best
evaluates the epoch with the best validation top-1 (RUN/best.keras) instead of the last one.
--verbosity=debug shows TensorFlow's own logs and full tracebacks.
"""

from __future__ import annotations

import posixpath

import numpy as np

from schemas import layout
from training import config, console

# TensorFlow is imported inside the functions that use it, so that --help answers without it.
TOP_K = (1, 5, 10)


def split_of(files) -> str:
    """'test' for test-00000-of-00004.tfrecord; 'eval' when the shards are of several splits."""
    splits = {layout.shard_split(posixpath.basename(f)) or "eval" for f in files}
    return splits.pop() if len(splits) == 1 else "eval"


def evaluate(
    model_dir: str,
    tfrecord_glob: str,
    batch_size: int = 16,
    skip_corrupt: bool = False,
    checkpoint: str = "last",
) -> dict:
    """Metrics of the run's model over every record the glob matches (one pass).

    skip_corrupt: leave out damaged shards' records from the damage on (counted in a warning
    and in num_examples) instead of stopping with an error naming the shard.
    checkpoint: "last" (model.keras) or "best" (best.keras, the best validation epoch).
    """
    import tensorflow as tf

    from training import input_pipeline, run_folder, shard_source

    model, labels, info = run_folder.load_run(model_dir, checkpoint)
    source = shard_source.open_source(tfrecord_glob, skip_corrupt)
    shard_source.check_same_data(
        source.format, shard_source.DataFormat(f"the run in {model_dir}", info, tuple(labels))
    )
    shard_source.check_shards(source)
    data = input_pipeline.make_for_eval(
        source.files, source.info, batch_size, record_limits=source.record_limits
    )

    @tf.function
    def step(frames, label):
        probs = model(frames, training=False)
        loss = tf.keras.losses.sparse_categorical_crossentropy(label, probs)
        # Rank of the true class: how many classes got a strictly higher probability.
        true_prob = tf.gather(probs, label, batch_dims=1)
        rank = tf.reduce_sum(tf.cast(probs > true_prob[:, None], tf.int32), axis=1)
        return loss, rank

    losses, ranks, truth = [], [], []
    with input_pipeline.readable_input_errors(source.files, source.info.compression):
        for frames, label in data:
            loss, rank = step(frames, label)
            losses.append(loss.numpy())
            ranks.append(rank.numpy())
            truth.append(label.numpy())
    if not losses:
        raise ValueError(f"--tfrecord_glob={tfrecord_glob!r} matched shards with no records")
    loss, rank, truth = (np.concatenate(a) for a in (losses, ranks, truth))
    top1 = rank == 0
    per_class = [float(top1[truth == c].mean()) for c in np.unique(truth)]
    metrics = {
        "num_examples": int(truth.size),
        "num_classes_present": len(per_class),
        "loss": float(loss.mean()),
        **{f"top{k}_accuracy": float((rank < k).mean()) for k in TOP_K},
        "mean_per_class_top1_accuracy": float(np.mean(per_class)),
        "split": split_of(source.files),
        "tfrecord_glob": tfrecord_glob,
        "model_dir": model_dir,
        "checkpoint": checkpoint,
    }
    return metrics


def main(argv):
    from absl import app, flags

    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    FLAGS = flags.FLAGS
    console.import_tensorflow()
    from schemas.layout import join
    from training import run_folder

    metrics = evaluate(
        FLAGS.model_dir, FLAGS.tfrecord_glob, FLAGS.batch_size, FLAGS.skip_corrupt, FLAGS.checkpoint
    )
    suffix = "" if FLAGS.checkpoint == "last" else f"_{FLAGS.checkpoint}"
    output = FLAGS.output or join(FLAGS.model_dir, f"eval_{metrics['split']}{suffix}.json")
    run_folder.write_json(output, metrics)
    for key in ("num_examples", "loss", "top1_accuracy", "top5_accuracy", "top10_accuracy",
                "mean_per_class_top1_accuracy"):  # fmt: skip
        value = metrics[key]
        print(f"{key:>30}: {value:.4f}" if isinstance(value, float) else f"{key:>30}: {value}")
    print(f"{'written to':>30}: {output}")


def define_flags() -> None:
    from absl import flags

    flags.DEFINE_string("model_dir", None, "Run folder written by python -m training.")
    flags.DEFINE_string("tfrecord_glob", None, "Shards to evaluate (globs, comma-separated).")
    flags.DEFINE_integer("batch_size", 16, "Clips per forward pass.", lower_bound=1)
    flags.DEFINE_string(
        "output", "", "JSON file for the metrics; default RUN/eval_<split>.json "
        "(RUN/eval_<split>_best.json with --checkpoint=best).",
    )  # fmt: skip
    config.define_checkpoint_flag()
    flags.DEFINE_boolean(
        "skip_corrupt",
        False,
        "Leave out damaged shards' records from the damage on (counted in a warning) instead "
        "of stopping with an error naming the shard.",
    )
    flags.mark_flags_as_required(["model_dir", "tfrecord_glob"])


def console_main() -> None:
    """Entry point of `python -m training.evaluate` and the `aslvid2gloss-evaluate` script."""
    console.run(main, define_flags, __doc__, lambda: "interrupted: nothing was written")


if __name__ == "__main__":
    console_main()
