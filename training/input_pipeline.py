"""Shards → batches of (frames uint8, label): list, check, interleave, parse, batch.

Frames stay uint8 all the way into the model, whose first layer scales them (training.model,
docs/design.md): training, evaluate, predict and the SavedModel's serving signature feed the
model the same bytes, and the pipeline moves a quarter of the bytes a float32 clip would take.
"""

from __future__ import annotations

import contextlib
import random
import re

import tensorflow as tf

from schemas.dataset_info import DatasetInfo
from training.shard_source import corrupt_shard_error
from training.shard_source import open_source as open_source  # for callers outside training/

AUTOTUNE = tf.data.AUTOTUNE
# Prefix of the in-pipeline label assertion; the trainer turns that failure into a ValueError.
LABEL_ERROR = "label outside the vocabulary"


def preprocess_frames(frames: tf.Tensor) -> tf.Tensor:
    """uint8 clips (..., T, S, S, 3), checked and returned as they are: what the model takes.

    The model scales them itself (its Rescaling input layer). Float frames fail here: the model
    would cast them to uint8 and scale them again, and no error would say so.
    """
    frames = tf.convert_to_tensor(frames)
    if frames.dtype != tf.uint8:
        raise ValueError(f"frames must be uint8, got {frames.dtype.name}")
    return frames


def make_dataset(
    files: list[str] | tuple[str, ...],
    info: DatasetInfo,
    batch_size: int,
    training: bool,
    shuffle_buffer: int = 256,
    seed: int | None = None,
    cache: str = "",
    input_context: tf.distribute.InputContext | None = None,
    record_limits: list[int] | tuple[int, ...] | None = None,
    augment=None,
) -> tf.data.Dataset:
    """Batches of (frames uint8 (B, T, S, S, 3), label int32 (B,)): the model scales the frames.

    `batch_size` is the batch of this pipeline (per replica under a strategy).
    Training: files and records shuffled (`shuffle_buffer` 0 turns it off), repeated forever
    (the trainer counts steps per epoch), last partial batch dropped so every step has the same
    shape (one trace, and the global batch really is the global batch). Evaluation: one pass in
    file order, partial last batch kept so every record counts. `augment` (training only, see
    training/augment.py) maps a uint8 clip and a seed to a uint8 clip.
    """
    num_pipelines = input_context.num_input_pipelines if input_context else 1
    pipeline_id = input_context.input_pipeline_id if input_context else 0
    files, limits, shard_records = _files_of_pipeline(
        files, record_limits, num_pipelines, pipeline_id
    )
    file_paths, file_limits = tf.constant(files), tf.constant(limits, tf.int64)
    file_list = tf.data.Dataset.from_tensor_slices((file_paths, file_limits))

    def read(file_ds: tf.data.Dataset) -> tf.data.Dataset:
        ds = file_ds.interleave(
            # The shard's path travels with each record so a bad label can be reported by file.
            lambda path, limit: (
                tf.data.TFRecordDataset(path, compression_type=info.compression)
                .take(limit)
                .map(lambda record: (record, path))
            ),
            cycle_length=min(16, len(files)),
            num_parallel_calls=AUTOTUNE,
            # Deterministic, so --seed reproduces the order; interleave prefetches per file.
            deterministic=True,
        )
        return ds.shard(num_pipelines, pipeline_id) if shard_records else ds

    # Serialized records are JPEG-compressed and small; decoded clips would be ~15x bigger.
    cached = None
    if cache:
        cached = read(file_list).cache("" if cache == "memory" else f"{cache}-{pipeline_id}")
    if not training:
        ds = cached if cached is not None else read(file_list)
    elif shuffle_buffer:
        # Every epoch's order is a function of (seed, epoch) alone, drawn with stateless ops.
        # Not shuffle(reshuffle_each_iteration=True).repeat(): its per-epoch seeds come from a
        # generator that every iterator of the dataset shares, so where more than one was
        # opened the order depended on thread timing (same seed, different losses). Nor a
        # shuffle op seeded per epoch: TensorFlow fails on a tensor seed when the global seed
        # is 0 (--seed's default). An epoch is never empty: the trainer refuses a batch larger
        # than the training split.
        base_seed = tf.constant(random.randrange(2**31) if seed is None else seed, tf.int64)

        def epoch_files(epoch):
            order = tf.random.experimental.stateless_shuffle(
                tf.range(len(files)), seed=tf.stack([base_seed, 2 * epoch])
            )
            return tf.data.Dataset.from_tensor_slices(
                (tf.gather(file_paths, order), tf.gather(file_limits, order))
            )

        def one_epoch(epoch):
            records = cached if cached is not None else read(epoch_files(epoch))
            return shuffle_blocks(records, shuffle_buffer, tf.stack([base_seed, 2 * epoch + 1]))

        ds = tf.data.Dataset.counter().flat_map(one_epoch)
    else:
        ds = (cached if cached is not None else read(file_list)).repeat()

    parse = _parse_checking_labels(info)
    ds = ds.map(parse, num_parallel_calls=AUTOTUNE, deterministic=True)
    if training and augment is not None:
        # Per clip, before batching; a stateless seed (--seed, the clip's position in the stream)
        # gives the same augmented clips at any parallelism and new ones every epoch.
        base = tf.constant(seed or 0, tf.int64)
        ds = ds.enumerate().map(
            lambda i, example: (augment(example[0], tf.stack([base, i])), example[1]),
            num_parallel_calls=AUTOTUNE,
            deterministic=True,
        )
    # uint8 all the way: the model scales the frames itself (its Rescaling input layer).
    ds = ds.batch(batch_size, drop_remainder=training)
    return ds.prefetch(AUTOTUNE)


def shuffle_blocks(records: tf.data.Dataset, block: int, seed: tf.Tensor) -> tf.data.Dataset:
    """Records shuffled within consecutive blocks of `block`, each block by its own stateless
    seed (`seed` and the block's number): memory of one block, like a shuffle buffer of that
    size, and the same order from any iterator. The file order is shuffled too (make_dataset),
    so a block mixes records of the files being interleaved."""

    def shuffle(number, block_records):
        count = tf.shape(block_records[0])[0]
        order = tf.random.experimental.stateless_shuffle(
            tf.range(count), seed=tf.stack([seed[0], seed[1] * 2**32 + number])
        )
        return tuple(tf.gather(part, order) for part in block_records)

    return records.batch(block).enumerate().map(shuffle).unbatch()


def _files_of_pipeline(files, record_limits, num_pipelines: int, pipeline_id: int):
    """(files, record limits, shard_records) of one input pipeline (one worker).

    Each worker reads its own files when there are enough, so no record is read twice across
    the job; with fewer files than workers every worker reads everything and keeps every n-th
    record (shard_records). A limit is how many records of a file to read (-1: all): it stops
    before a damaged shard's damage.
    """
    files = list(files)
    limits = list(record_limits) if record_limits is not None else [-1] * len(files)
    if len(limits) != len(files):
        raise ValueError(f"record_limits has {len(limits)} values for {len(files)} files")
    if num_pipelines > 1 and len(files) >= num_pipelines:
        return files[pipeline_id::num_pipelines], limits[pipeline_id::num_pipelines], False
    return files, limits, num_pipelines > 1


def _parse_checking_labels(info: DatasetInfo):
    """(record, shard path) → (uint8 frames, int32 label), asserting the label's range in-graph."""
    clip, num_labels = info.clip, info.num_labels

    def parse(record, path):
        frames, label = clip.parse_training(record)
        in_range = tf.logical_and(label >= 0, label < num_labels)
        check = tf.debugging.Assert(
            in_range,
            [
                f"{LABEL_ERROR}: shard",
                path,
                "label",
                label,
                f"not in [0, {num_labels}) of labels.txt",
            ],
        )
        with tf.control_dependencies([check]):
            return frames, tf.cast(label, tf.int32)

    return parse


def batch_spec(
    info: DatasetInfo, batch_size: int | None = None
) -> tuple[tf.TensorSpec, tf.TensorSpec]:
    """The (frames, label) spec of `make_dataset`'s batches."""
    return (
        tf.TensorSpec((batch_size, *info.clip.frame_shape), tf.uint8),
        tf.TensorSpec((batch_size,), tf.int32),
    )


@contextlib.contextmanager
def readable_input_errors(files, compression: str):
    """Turns TensorFlow's input failures into errors that name the shard.

    A label outside the vocabulary fails inside the pipeline's assertion, and a damaged record as
    a DataLossError naming no file; training and evaluation both re-raise them as errors a user
    can act on (the shard, the label, the byte offset).
    """
    try:
        yield
    except tf.errors.InvalidArgumentError as e:
        message = label_error_message(e)
        if message:
            raise ValueError(message) from None
        raise
    except tf.errors.DataLossError:
        error = corrupt_shard_error(files, compression)
        if error is None:
            raise
        raise error from None


def label_error_message(error: tf.errors.InvalidArgumentError) -> str | None:
    """The readable part of a failed label assertion, or None if `error` is something else."""
    text = getattr(error, "message", str(error))
    match = re.search(
        re.escape(LABEL_ERROR)
        + r": shard\] \[(.*?)\] \[label\] \[(-?\d+)\] \[(not in .*?labels.txt)\]",
        text,
    )
    if not match:
        return None
    path, label, expected = match.groups()
    return f"{path}: {LABEL_ERROR}, label {label} {expected}"
