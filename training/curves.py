r"""Training curves of a run folder: loss and accuracy per epoch, train and validation, as a PNG.

    python -m training.curves --model_dir=RUN --out=curves.png

Reads RUN/metrics.csv: one row per epoch, numbered from 1 (training.callbacks.MetricsCsv).
--verbosity=debug shows TensorFlow's own logs and full tracebacks.
"""

from __future__ import annotations

import csv
import math
import os

from schemas.layout import join
from training import console

METRICS_CSV = "metrics.csv"  # training.run_folder.METRICS_CSV; that module imports TensorFlow


def read_metrics(model_dir: str) -> dict[str, list[float]]:
    """metrics.csv as columns, epochs numbered from 1; a repeated epoch keeps its last row."""
    import tensorflow as tf

    path = join(model_dir, METRICS_CSV)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"{path} not found: expected the metrics of a training run")
    with tf.io.gfile.GFile(path) as f:
        rows = list(csv.DictReader(f))
    if not rows or "epoch" not in rows[0] or "loss" not in rows[0]:
        raise ValueError(f"{path}: expected a CSV with epoch and loss columns and >= 1 row")
    by_epoch = {}
    for i, row in enumerate(rows):
        try:
            values = {k: float(v) for k, v in row.items() if v not in ("", None)}
            by_epoch[int(row["epoch"])] = values
        except ValueError as e:
            raise ValueError(f"{path}: row {i + 2}: {e}") from None
    epochs = sorted(by_epoch)
    columns = {k for row in by_epoch.values() for k in row}
    return {k: [by_epoch[e].get(k, math.nan) for e in epochs] for k in sorted(columns)}


def plot_curves(metrics: dict[str, list[float]], out: str, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    epochs = [int(e) for e in metrics["epoch"]]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), dpi=100)
    for ax, name, label in ((axes[0], "loss", "loss"), (axes[1], "accuracy", "top-1 accuracy")):
        for key, legend, style in ((name, "train", "o-"), (f"val_{name}", "validation", "s--")):
            if key in metrics:
                ax.plot(epochs, metrics[key], style, label=legend, markersize=4)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    axes[1].set_ylim(0, 1.02)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    import tensorflow as tf

    folder = os.path.dirname(out)
    if folder:
        tf.io.gfile.makedirs(folder)  # a new folder for the PNG is made, as for the run folder
    fig.savefig(out)
    plt.close(fig)


def main(argv):
    from absl import app, flags

    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    FLAGS = flags.FLAGS
    console.import_tensorflow()  # for gs:// paths (tf.io.gfile)
    metrics = read_metrics(FLAGS.model_dir)
    out = FLAGS.out or join(FLAGS.model_dir, "curves.png")
    plot_curves(metrics, out, title=FLAGS.title or os.path.basename(FLAGS.model_dir.rstrip("/")))
    print(f"wrote {out} ({len(metrics['epoch'])} epochs)")


def define_flags() -> None:
    from absl import flags

    flags.DEFINE_string("model_dir", None, "Run folder written by python -m training.")
    flags.DEFINE_string(
        "out", "", "PNG to write (its folder is made if missing); default RUN/curves.png."
    )
    flags.DEFINE_string("title", "", "Title above the plots; default the run folder's name.")
    flags.mark_flags_as_required(["model_dir"])


def console_main() -> None:
    """Entry point of `python -m training.curves` and the `aslvid2gloss-curves` script."""
    console.run(main, define_flags, __doc__, lambda: "interrupted: nothing was written")


if __name__ == "__main__":
    console_main()
