"""The trainer's Keras callbacks, all on public Keras APIs: checkpoints, best epoch and early
stopping, per-step TensorBoard scalars at the global step, metrics.csv, and a non-finite loss."""

from __future__ import annotations

import csv
import logging
import math

import keras
import tensorflow as tf

from schemas.layout import join
from training import run_folder
from training.checkpointing import TrainState
from training.optimization import current_learning_rate

log = logging.getLogger(__name__)


class SaveCheckpoints(keras.callbacks.Callback):
    """A checkpoint every `every_steps` global steps and at every epoch end (after the best-epoch
    record is updated, so the two always agree)."""

    def __init__(self, state: TrainState, steps_per_epoch: int):
        super().__init__()
        self.state = state
        self.steps_per_epoch = steps_per_epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.state.step % self.steps_per_epoch:  # the epoch end saves the last step
            self.state.save()

    def on_epoch_end(self, epoch, logs=None):
        self.state.save(force=True)


class BestEpoch(keras.callbacks.Callback):
    """Keeps the epoch with the best validation top-1 as RUN/best.keras; stops after `patience`
    epochs without improvement (0: never). Its record lives in the checkpoint, so a resumed run
    compares with the best epoch before the interruption."""

    def __init__(self, state: TrainState, out_dir: str, patience: int = 0):
        super().__init__()
        self.state = state
        self.path = join(out_dir, run_folder.BEST_KERAS)
        self.patience = patience

    def on_epoch_end(self, epoch, logs=None):
        accuracy = (logs or {}).get("val_accuracy")
        if accuracy is None or not math.isfinite(float(accuracy)):
            return
        number = epoch + 1
        if float(accuracy) > float(self.state.best_accuracy.numpy()):
            self.state.best_accuracy.assign(float(accuracy))
            self.state.best_epoch.assign(number)
            self.model.save(self.path)
            log.info("Epoch %d: best validation top-1 so far, %.4f: %s", number, accuracy,
                     self.path)  # fmt: skip
        if self.patience and stop_early(number, int(self.state.best_epoch.numpy()), self.patience):
            log.info(
                "Early stopping after epoch %d: no better validation top-1 for %d epochs since "
                "epoch %d", number, self.patience, int(self.state.best_epoch.numpy()),
            )  # fmt: skip
            self.model.stop_training = True


def stop_early(epochs_done: int, best_epoch: int, patience: int) -> bool:
    return bool(patience) and best_epoch > 0 and epochs_done - best_epoch >= patience


class StepScalars(keras.callbacks.Callback):
    """Per-step loss, accuracy and learning rate for TensorBoard, at the global step.

    Keras' TensorBoard callback counts its batch steps from 0 at every fit call, so a resumed run
    would draw over its own past; these continue from the optimizer's step.
    """

    def __init__(self, log_dir: str, every_steps: int):
        super().__init__()
        self.writer = tf.summary.create_file_writer(log_dir)
        self.every_steps = max(1, every_steps)

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if step % self.every_steps:
            return
        with self.writer.as_default(step=step):
            for name, value in (logs or {}).items():
                tf.summary.scalar(f"step_{name}", float(value))
            tf.summary.scalar("learning_rate", current_learning_rate(self.model.optimizer))

    def on_train_end(self, logs=None):
        self.writer.flush()


class MetricsCsv(keras.callbacks.Callback):
    """One row per epoch in metrics.csv, epochs numbered from 1 as on the console and in the
    checkpoint names, with the learning rate at the epoch's end."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
        row["learning_rate"] = current_learning_rate(self.model.optimizer)
        fields = list(row)
        exists = tf.io.gfile.exists(self.path)
        if exists:
            with tf.io.gfile.GFile(self.path) as f:
                fields = next(csv.reader(f), None) or fields
        # Appended (not rewritten) so a resumed run adds its epochs to the earlier ones.
        with tf.io.gfile.GFile(self.path, "a") as f:
            writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
            if not exists:
                writer.writeheader()
            writer.writerow(row)


class StopOnNonFiniteLoss(keras.callbacks.TerminateOnNaN):
    """TerminateOnNaN, then an error: a diverged run must not end looking like a finished one."""

    def on_batch_end(self, batch, logs=None):
        super().on_batch_end(batch, logs)
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            step = int(self.model.optimizer.iterations.numpy())
            raise FloatingPointError(
                f"training loss became {float(loss)} at step {step}: lower --learning_rate, or "
                "check the input data; the last good state is in the run's "
                f"{run_folder.BACKUP_DIR}/"
            )
