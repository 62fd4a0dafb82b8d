"""What a run folder (--model_dir) holds, and how evaluate and predict load it back.

RUN/dataset.json, RUN/labels.txt   copied from the training shards' folder
RUN/config.json                    the settings of the last start
RUN/backup/ckpt-STEP.*             tf.train.Checkpoint state: the same command resumes from it
RUN/checkpoints/epoch-NNN.weights.h5
RUN/logs/                          TensorBoard (train/, validation/)
RUN/metrics.csv                    one row per epoch, numbered from 1
RUN/model.keras                    the last epoch's model (uint8 clips in; --checkpoint=last)
RUN/saved_model/                   its serving signature: uint8 clips (N, T, S, S, 3) in
RUN/best.keras                     the best epoch by validation top-1 (--checkpoint=best)
RUN/best_saved_model/              its serving signature
RUN/train_summary.json             global step, epochs, last metrics, the best epoch
"""

from __future__ import annotations

import json

import keras
import tensorflow as tf

from schemas import fileio
from schemas.dataset_info import DatasetInfo, read_dataset_info, read_labels
from schemas.layout import DATASET_JSON, LABELS_TXT, join
from training.input_pipeline import preprocess_frames
from training.model import accept_uint8

CONFIG_JSON = "config.json"
BACKUP_DIR = "backup"
CHECKPOINT_DIR = "checkpoints"
EPOCH_CHECKPOINT = "epoch-{epoch:03d}.weights.h5"
LOG_DIR = "logs"
METRICS_CSV = "metrics.csv"
MODEL_KERAS = "model.keras"
SAVED_MODEL_DIR = "saved_model"
SUMMARY_JSON = "train_summary.json"
SERVING_INPUT = "clips"
BEST_KERAS = "best.keras"
BEST_SAVED_MODEL_DIR = "best_saved_model"
# --checkpoint of evaluate and predict: which model of the run folder to load.
CHECKPOINTS = {"last": MODEL_KERAS, "best": BEST_KERAS}

__all__ = ["load_run", "preprocess_frames", "export_saved_model", "copy_dataset_files"]


def copy_dataset_files(source_folder: str, model_dir: str) -> None:
    """dataset.json and labels.txt travel with the run, so evaluate and predict need only RUN."""
    tf.io.gfile.makedirs(model_dir)
    for name in (DATASET_JSON, LABELS_TXT):
        tf.io.gfile.copy(join(source_folder, name), join(model_dir, name), overwrite=True)


def write_json(path: str, data: dict) -> None:
    """A kill never leaves half a file (schemas.fileio.write_atomic)."""
    fileio.write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def export_saved_model(model: keras.Model, path: str) -> None:
    """SavedModel whose `serve` / `serving_default` signature takes uint8 clips (N, T, S, S, 3).

    The model scales the clips itself (its Rescaling input layer), as in training, so serving
    cannot drift from training.
    """
    model = accept_uint8(model)
    _, num_frames, height, width, channels = model.input_shape

    def serve(clips):
        return {"probabilities": model(preprocess_frames(clips), training=False)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name="serve",
        fn=serve,
        input_signature=[
            tf.TensorSpec((None, num_frames, height, width, channels), tf.uint8, name=SERVING_INPUT)
        ],
    )
    archive.write_out(path, verbose=False)


def load_run(
    model_dir: str, checkpoint: str = "last"
) -> tuple[keras.Model, list[str], DatasetInfo]:
    """(trained model, labels, dataset info) of a finished run; checks that they belong together.

    checkpoint: "last" (model.keras, the last epoch) or "best" (best.keras, the epoch with the
    best validation top-1; only runs with --val_tfrecord_glob have one).
    """
    if checkpoint not in CHECKPOINTS:
        raise ValueError(f"--checkpoint must be one of {sorted(CHECKPOINTS)}, got {checkpoint!r}")
    path = join(model_dir, CHECKPOINTS[checkpoint])
    if not tf.io.gfile.exists(path):
        hint = (
            "a best model is kept only by runs with --val_tfrecord_glob; use --checkpoint=last"
            if checkpoint == "best"
            else "expected the model of a finished training run"
        )
        raise FileNotFoundError(f"{path} not found: {hint}")
    info = read_dataset_info(model_dir)
    labels = read_labels(model_dir)
    # Not compiled: evaluate and predict only run the forward pass (and the training loss may be
    # a class of training.optimization that a reader need not import). Runs saved before uint8
    # input took float32 clips: adapted, so every caller feeds uint8.
    model = accept_uint8(keras.models.load_model(path, compile=False))
    check_model_matches(model, info, len(labels), source=model_dir)
    return model, labels, info


def check_model_matches(model: keras.Model, info: DatasetInfo, num_labels: int, source: str):
    """The model's input shape and class count must be those of `info`; errors name `source`."""
    expected_input = (None, *info.clip.frame_shape)
    if tuple(model.input_shape) != expected_input:
        raise ValueError(
            f"{source}: model takes clips {tuple(model.input_shape)[1:]} but dataset.json says "
            f"{info.clip.frame_shape}"
        )
    if model.output_shape[-1] != num_labels or info.num_labels != num_labels:
        raise ValueError(
            f"{source}: model has {model.output_shape[-1]} classes, dataset.json "
            f"{info.num_labels} and labels.txt {num_labels}"
        )
