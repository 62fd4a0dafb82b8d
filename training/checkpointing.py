"""The run's resumable state in RUN/backup/: tf.train.Checkpoint files named by the global step.

A checkpoint holds the weights, the optimizer (its `iterations` is the global step, the manager's
step counter) and the best epoch so far. Resuming reads the step and derives the epoch and the
steps left in it, so a killed run ends with exactly the steps of an uninterrupted one
(docs/design.md). TensorFlow writes a checkpoint under a temporary name and then records it in
the `checkpoint` file, so a kill while writing leaves the previous one usable; a checkpoint whose
files were damaged afterwards (cut short by a full disk, a bad copy, a flipped bit) is read back,
found out and passed over for the one before it.
"""

from __future__ import annotations

import logging

import keras
import tensorflow as tf

from schemas.layout import join

log = logging.getLogger(__name__)

MAX_TO_KEEP = 2  # the newest checkpoint and one before it, should the newest be damaged
DATA_SUFFIX = ".data-"
INDEX_SUFFIX = ".index"
CHECKPOINT_NAME = "ckpt"  # checkpoints are CHECKPOINT_NAME-<step>.index and .data-*
STATE_FILE = "checkpoint"  # where the manager lists its checkpoints
# What reading a damaged checkpoint raises: a truncated .data file gives IndexError ("Read less
# bytes than requested"); a bad checksum, an unparsable .index or a missing file, an OpError.
READ_ERRORS = (tf.errors.OpError, IndexError, OSError)


class DamagedCheckpointError(ValueError):
    """No checkpoint of the run can be read: its files are cut short, corrupted or missing."""


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
        set_aside_unreadable_listing(directory)  # the manager fails on an empty one
        # Checkpoints are named by the optimizer's step; `save` picks the steps (multiples of
        # every_steps, so a resumed run saves at the same steps as an uninterrupted one).
        self.manager = tf.train.CheckpointManager(
            self.checkpoint,
            directory,
            max_to_keep=MAX_TO_KEEP,
            checkpoint_name=CHECKPOINT_NAME,
            step_counter=model.optimizer.iterations,
        )

    @property
    def step(self) -> int:
        return int(self.model.optimizer.iterations.numpy())

    def restore(self) -> int:
        """Loads the newest intact checkpoint; returns its global step (0: none).

        A full disk, an interrupted copy of the run folder or a failing disk can leave the
        newest checkpoint unreadable while the previous one is whole; the run resumes from that
        one (a warning names the damaged files) rather than stopping or starting over, and from
        the checkpoint files themselves should the `checkpoint` file listing them be damaged.
        """
        paths = self._candidates()
        if not paths:
            return 0
        path, damaged = newest_intact(paths, self.directory)
        for reason in damaged:
            log.warning("Damaged checkpoint, resuming from %s instead: %s", path, reason)
        self._load(path)
        if damaged or path not in self.manager.checkpoints:
            # Saved again, it is the newest listed: the damaged ones are not tried first on the
            # next resume, and the manager deletes them in turn like any older checkpoint.
            self.manager.save(checkpoint_number=self.step)
        log.info("Resuming from %s at step %d", path, self.step)
        return self.step

    def _candidates(self) -> list[str]:
        """The checkpoints the `checkpoint` file lists, oldest first; without that file (or
        with it set aside), the checkpoint files themselves."""
        return self.manager.checkpoints or found_checkpoints(self.directory)

    def _load(self, path: str) -> None:
        """Restores an intact checkpoint: a failure now is a model that does not fit it."""
        try:
            self.checkpoint.restore(path).assert_existing_objects_matched().expect_partial()
        except (AssertionError, ValueError, tf.errors.OpError) as e:
            raise ValueError(
                f"{path}: cannot restore the checkpoint; was --model_dir used for another "
                "model or other data?"
            ) from e

    def save(self, force: bool = False) -> str | None:
        """Writes a checkpoint named by the step if `force` or the step is a multiple of
        `every_steps` (0: only when forced); returns its path, or None."""
        step = self.step
        if not force and (not self.every_steps or step % self.every_steps):
            return None
        return self.manager.save(checkpoint_number=step)


def latest_step(directory: str) -> int | None:
    """The global step of the newest checkpoint in `directory`, without building a model.

    Whether or not its files are intact: a folder with a checkpoint is resumed (from an older
    one if need be), so its settings must be checked.
    """
    state = read_listing(directory)
    if state is not None and state.model_checkpoint_path:
        return step_of(state.model_checkpoint_path)
    found = found_checkpoints(directory)
    return step_of(found[-1]) if found else None


def read_listing(directory: str):
    """The `checkpoint` file's CheckpointState, or None where it is missing or unreadable
    (TensorFlow ignores a garbled one, with a warning, but fails on an empty one)."""
    try:
        return tf.train.get_checkpoint_state(directory)
    except ValueError:
        return None


def set_aside_unreadable_listing(directory: str) -> None:
    """Renames an unreadable `checkpoint` file to `checkpoint.unreadable`, so that the run
    resumes from the checkpoint files and the next save writes a new list, instead of starting
    over at step 0 (a garbled list) or stopping (an empty one)."""
    path = join(directory, STATE_FILE)
    if not tf.io.gfile.exists(path) or read_listing(directory) is not None:
        return
    tf.io.gfile.rename(path, path + ".unreadable", overwrite=True)
    log.warning(
        "%s is unreadable (set aside as %s.unreadable): resuming from the checkpoint files",
        path,
        STATE_FILE,
    )


def found_checkpoints(directory: str) -> list[str]:
    """The checkpoints in `directory` by their files (ckpt-N.index), oldest first."""
    indexes = tf.io.gfile.glob(join(directory, CHECKPOINT_NAME + "-*" + INDEX_SUFFIX))
    paths = [p[: -len(INDEX_SUFFIX)] for p in indexes]
    return sorted((p for p in paths if p.rsplit("-", 1)[-1].isdigit()), key=step_of)


def step_of(path: str) -> int:
    """ckpt-120 → 120: the manager names checkpoints by the global step."""
    return int(path.rsplit("-", 1)[-1])


def newest_intact(paths: list[str], directory: str) -> tuple[str, list[str]]:
    """The newest of `paths` (listed oldest first) that reads back, and what is wrong with each
    newer one; an error naming the files when none does."""
    damaged = []
    for path in reversed(paths):
        reason = damage(path)
        if reason is None:
            return path, damaged
        damaged.append(reason)
    raise DamagedCheckpointError(
        f"every checkpoint in {directory} is damaged: {'; '.join(damaged)}. "
        f"Restore them from a copy, or delete {directory} to train from step 0."
    )


def damage(path: str) -> str | None:
    """What is wrong with the files of the checkpoint `path` (None: every tensor reads back).

    Reads the whole checkpoint without a model, so that an unreadable file (cut short,
    corrupted, missing) is told apart from a model that does not fit an intact checkpoint;
    TensorBundle checks each tensor's CRC32C as it reads it.
    """
    index = path + INDEX_SUFFIX
    if not tf.io.gfile.exists(index):
        return f"{index} is missing"
    try:
        reader = tf.train.load_checkpoint(path)
    except READ_ERRORS as e:
        if DATA_SUFFIX in str(e):  # opening the index also opens the data files
            return f"{', '.join(data_files(path))} {data_damage(e)}"
        return f"{index} is unreadable ({describe_error(e)})"
    for name in sorted(reader.get_variable_to_dtype_map()):
        try:
            reader.get_tensor(name)
        except READ_ERRORS as e:
            return f"{', '.join(data_files(path))} {data_damage(e)}"
    return None


def data_files(path: str) -> list[str]:
    """The checkpoint's .data shards, to name in a reason (the pattern, where none is left)."""
    return sorted(tf.io.gfile.glob(path + DATA_SUFFIX + "*")) or [path + DATA_SUFFIX + "*"]


def data_damage(error: BaseException) -> str:
    """TensorFlow's words for a .data file that does not read back, as a reason."""
    text = describe_error(error)
    if "Read less bytes than requested" in text:
        return f"is truncated: shorter than its index says ({text})"
    if "checksum" in text.lower():
        return f"fails its checksum: its bytes changed after writing ({text})"
    if "No such file" in text or isinstance(error, tf.errors.NotFoundError):
        return f"is missing ({text})"
    return f"is unreadable ({text})"


def describe_error(error: BaseException) -> str:
    """The first line of an error's message (TensorFlow's run to several)."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
