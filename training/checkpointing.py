"""The run's resumable state in RUN/backup/: tf.train.Checkpoint files named by the global step.

A checkpoint holds the weights, the optimizer (its `iterations` is the global step, the manager's
step counter) and the best epoch so far. Resuming reads the step and derives the epoch and the
steps left in it, so a killed run ends with exactly the steps of an uninterrupted one
(docs/design.md). TensorFlow writes a checkpoint under a temporary name and then records it in
the `checkpoint` file, so a kill while writing leaves the previous one usable.
"""

from __future__ import annotations

import logging

import keras
import tensorflow as tf

log = logging.getLogger(__name__)


class TrainState:
    """Model, optimizer and best-epoch record of one run, saved and restored together."""

    def __init__(self, model: keras.Model, directory: str, every_steps: int = 0):
        if not model.optimizer.built:
            # Restoring needs the optimizer's slot variables to exist.
            model.optimizer.build(model.trainable_variables)
        self.model = model
        self.directory = directory
        self.every_steps = every_steps
        # Validation top-1 of the best epoch so far (-1: none yet) and that epoch (1-based).
        self.best_accuracy = tf.Variable(-1.0, dtype=tf.float64, trainable=False)
        self.best_epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.checkpoint = tf.train.Checkpoint(
            model=model,
            optimizer=model.optimizer,
            best_accuracy=self.best_accuracy,
            best_epoch=self.best_epoch,
        )
        # Checkpoints are named by the optimizer's step; `save` picks the steps (multiples of
        # every_steps, so a resumed run saves at the same steps as an uninterrupted one).
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, directory, max_to_keep=2, step_counter=model.optimizer.iterations
        )

    @property
    def step(self) -> int:
        return int(self.model.optimizer.iterations.numpy())

    def restore(self) -> int:
        """Loads the latest checkpoint if there is one; returns its global step (0: none)."""
        path = self.manager.latest_checkpoint
        if path is None:
            return 0
        try:
            self.checkpoint.restore(path).assert_existing_objects_matched().expect_partial()
        except (AssertionError, ValueError, tf.errors.OpError) as e:
            raise ValueError(
                f"{path}: cannot restore the checkpoint; was --model_dir used for another "
                "model or other data?"
            ) from e
        log.info("Resuming from %s at step %d", path, self.step)
        return self.step

    def save(self, force: bool = False) -> str | None:
        """Writes a checkpoint named by the step if `force` or the step is a multiple of
        `every_steps` (0: only when forced); returns its path, or None."""
        step = self.step
        if not force and (not self.every_steps or step % self.every_steps):
            return None
        return self.manager.save(checkpoint_number=step)


def latest_step(directory: str) -> int | None:
    """The global step of the newest checkpoint in `directory`, without building a model."""
    path = tf.train.latest_checkpoint(directory)
    if path is None:
        return None
    return int(path.rsplit("-", 1)[-1])
