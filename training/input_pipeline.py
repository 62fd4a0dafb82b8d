"""Shards → batches of (frames uint8, label): `make_for_train` and `make_for_eval`.

Frames stay uint8 all the way into the model, whose first layer scales them (training.model,
docs/design.md): training, evaluate, predict and the SavedModel's serving signature feed the
model the same bytes, and the pipeline moves a quarter of the bytes a float32 clip would take.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import re

import tensorflow as tf

from schemas.dataset_info import DatasetInfo
from training.shard_source import corrupt_shard_error

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


def make_for_train(
    files: list[str] | tuple[str, ...],
    info: DatasetInfo,
    batch_size: int,
    *,
    shuffle_buffer: int = 256,
    seed: int | None = None,
    cache: str = "",
    input_context: tf.distribute.InputContext | None = None,
    record_limits: list[int] | tuple[int, ...] | None = None,
    augment=None,
) -> tf.data.Dataset:
    """Endless batches of (frames uint8 (B, T, S, S, 3), label int32 (B,)) to train on.

    Args:
      files, info: the shards and their dataset.json (training.shard_source.open_source).
      batch_size: the batch of this pipeline (per replica under a strategy).
      shuffle_buffer: records shuffled together, in blocks; 0 reads the files in order.
      seed: fixes every epoch's order and augmentation (None: a new order every call).
      cache: '' (off), 'memory' or a file prefix for the serialized records.
      input_context: this worker's share of the input under tf.distribute.
      record_limits: records to read of each file (-1: all), so reading stops before damage.
      augment: training/augment.py's function of a uint8 clip and a seed, or None.
    """
    shards = _pipeline_shards(files, record_limits, input_context)
    # Serialized records are JPEG-compressed and small; decoded clips would be ~15x bigger.
    cached = _cached_records(shards, info, cache)
    if shuffle_buffer:
        # A new order every epoch, a function of (seed, epoch) alone: see _shuffled_epochs.
        ds = _shuffled_epochs(shards, info, shuffle_buffer, seed, cached)
    else:
        # Repeated forever: the trainer counts the steps of an epoch itself.
        ds = (cached if cached is not None else _read(shards, info, shards.in_order())).repeat()
    # Parsed in parallel but in order, so --seed reproduces the stream; labels checked in-graph.
    ds = ds.map(_parse_checking_labels(info), num_parallel_calls=AUTOTUNE, deterministic=True)
    if augment is not None:
        # Per clip, before batching; a stateless seed (--seed, the clip's position in the stream)
        # gives the same augmented clips at any parallelism and new ones every epoch.
        base = tf.constant(seed or 0, tf.int64)
        ds = ds.enumerate().map(
            lambda i, example: (augment(example[0], tf.stack([base, i])), example[1]),
            num_parallel_calls=AUTOTUNE,
            deterministic=True,
        )
    # Partial last batch dropped: every step has the same shape (one trace), and the global
    # batch really is the global batch. uint8 all the way: the model scales the frames.
    ds = ds.batch(batch_size, drop_remainder=True)
    # Reads and parses the next batches while the model trains on this one.
    return ds.prefetch(AUTOTUNE)


def make_for_eval(
    files: list[str] | tuple[str, ...],
    info: DatasetInfo,
    batch_size: int,
    *,
    cache: str = "",
    input_context: tf.distribute.InputContext | None = None,
    record_limits: list[int] | tuple[int, ...] | None = None,
) -> tf.data.Dataset:
    """One pass of batches of (frames uint8, label int32) in file order, to evaluate on.

    Arguments as `make_for_train`; no shuffling and never augmentation, so the metrics of a
    model on some shards are always the same.
    """
    shards = _pipeline_shards(files, record_limits, input_context)
    # One pass, in file order: every record counts once.
    cached = _cached_records(shards, info, cache)
    ds = cached if cached is not None else _read(shards, info, shards.in_order())
    # Parsed in parallel but in order; labels checked in-graph (readable_input_errors names them).
    ds = ds.map(_parse_checking_labels(info), num_parallel_calls=AUTOTUNE, deterministic=True)
    # Partial last batch kept: every record counts.
    ds = ds.batch(batch_size, drop_remainder=False)
    # Reads and parses the next batches while the model runs on this one.
    return ds.prefetch(AUTOTUNE)


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
    """`make_for_train` or `make_for_eval` as `training` says: one call for both in tests and
    benchmarks. Evaluation ignores `shuffle_buffer`, `seed` and `augment`."""
    if not training:
        return make_for_eval(
            files, info, batch_size,
            cache=cache, input_context=input_context, record_limits=record_limits,
        )  # fmt: skip
    return make_for_train(
        files, info, batch_size,
        shuffle_buffer=shuffle_buffer, seed=seed, cache=cache, input_context=input_context,
        record_limits=record_limits, augment=augment,
    )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class _PipelineShards:
    """The files one input pipeline (one worker) reads, and how it shares them with the others."""

    paths: tuple[str, ...]
    limits: tuple[int, ...]  # records to read of each file (-1: all)
    num_pipelines: int = 1
    pipeline_id: int = 0
    shard_records: bool = False  # fewer files than workers: keep every n-th record instead

    def in_order(self) -> tf.data.Dataset:
        return tf.data.Dataset.from_tensor_slices(
            (tf.constant(self.paths), tf.constant(self.limits, tf.int64))
        )


def _pipeline_shards(files, record_limits, input_context) -> _PipelineShards:
    """The share of one input pipeline (one worker).

    Each worker reads its own files when there are enough, so no record is read twice across
    the job; with fewer files than workers every worker reads everything and keeps every n-th
    record (shard_records). A limit is how many records of a file to read (-1: all): it stops
    before a damaged shard's damage.
    """
    num_pipelines = input_context.num_input_pipelines if input_context else 1
    pipeline_id = input_context.input_pipeline_id if input_context else 0
    files = tuple(files)
    limits = tuple(record_limits) if record_limits is not None else (-1,) * len(files)
    if len(limits) != len(files):
        raise ValueError(f"record_limits has {len(limits)} values for {len(files)} files")
    if num_pipelines > 1 and len(files) >= num_pipelines:
        part = slice(pipeline_id, None, num_pipelines)
        return _PipelineShards(files[part], limits[part], num_pipelines, pipeline_id)
    return _PipelineShards(files, limits, num_pipelines, pipeline_id, num_pipelines > 1)


def _read(shards: _PipelineShards, info: DatasetInfo, file_list: tf.data.Dataset):
    """(serialized record, shard path) of the files in `file_list`, interleaved."""
    ds = file_list.interleave(
        # The shard's path travels with each record so a bad label can be reported by file.
        lambda path, limit: (
            tf.data.TFRecordDataset(path, compression_type=info.compression)
            .take(limit)
            .map(lambda record: (record, path))
        ),
        cycle_length=min(16, len(shards.paths)),
        num_parallel_calls=AUTOTUNE,
        # Deterministic, so --seed reproduces the order; interleave prefetches per file.
        deterministic=True,
    )
    return ds.shard(shards.num_pipelines, shards.pipeline_id) if shards.shard_records else ds


def _cached_records(shards: _PipelineShards, info: DatasetInfo, cache: str):
    """The pipeline's records in file order, cached after their first pass (None: cache off)."""
    if not cache:
        return None
    where = "" if cache == "memory" else f"{cache}-{shards.pipeline_id}"
    return _read(shards, info, shards.in_order()).cache(where)


def _shuffled_epochs(shards, info, shuffle_buffer: int, seed: int | None, cached):
    """Endless epochs, each in an order that is a function of (seed, epoch) alone.

    Drawn with stateless ops. Not shuffle(reshuffle_each_iteration=True).repeat(): its
    per-epoch seeds come from a generator that every iterator of the dataset shares, so where
    more than one was opened the order depended on thread timing (same seed, different losses).
    Nor a shuffle op seeded per epoch: TensorFlow fails on a tensor seed when the global seed
    is 0 (--seed's default). An epoch is never empty: the trainer refuses a batch larger than
    the training split. Cached records keep their file order; their blocks are still shuffled.
    """
    base_seed = tf.constant(random.randrange(2**31) if seed is None else seed, tf.int64)
    paths, limits = tf.constant(shards.paths), tf.constant(shards.limits, tf.int64)

    def epoch_files(epoch):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(len(shards.paths)), seed=tf.stack([base_seed, 2 * epoch])
        )
        return tf.data.Dataset.from_tensor_slices(
            (tf.gather(paths, order), tf.gather(limits, order))
        )

    def one_epoch(epoch):
        records = cached if cached is not None else _read(shards, info, epoch_files(epoch))
        return shuffle_blocks(records, shuffle_buffer, tf.stack([base_seed, 2 * epoch + 1]))

    return tf.data.Dataset.counter().flat_map(one_epoch)


def shuffle_blocks(records: tf.data.Dataset, block: int, seed: tf.Tensor) -> tf.data.Dataset:
    """Records shuffled within consecutive blocks of `block`, each block by its own stateless
    seed (`seed` and the block's number): memory of one block, like a shuffle buffer of that
    size, and the same order from any iterator. The file order is shuffled too (make_for_train),
    so a block mixes records of the files being interleaved."""

    def shuffle(number, block_records):
        count = tf.shape(block_records[0])[0]
        order = tf.random.experimental.stateless_shuffle(
            tf.range(count), seed=tf.stack([seed[0], seed[1] * 2**32 + number])
        )
        return tuple(tf.gather(part, order) for part in block_records)

    return records.batch(block).enumerate().map(shuffle).unbatch()


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
    """The (frames, label) spec of the builders' batches."""
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
