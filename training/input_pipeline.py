"""Shards → batches of (frames uint8, label): list, check, interleave, parse, batch.

Frames stay uint8 all the way into the model, whose first layer scales them (training.model,
docs/design.md): training, evaluate, predict and the SavedModel's serving signature feed the
model the same bytes, and the pipeline moves a quarter of the bytes a float32 clip would take.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import posixpath
import random
import re

import tensorflow as tf

from schemas import features
from schemas.dataset_info import DatasetInfo, label_difference, read_dataset_info, read_labels
from schemas.layout import is_side_file, shard_name

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


class CorruptShardError(ValueError):
    """A shard whose bytes are damaged (a record failing its CRC, a file cut short)."""


@dataclasses.dataclass(frozen=True)
class ShardDamage:
    """Where a shard stops being readable: TFRecord readers cannot resync after a bad record."""

    path: str
    good_records: int  # readable records before the damage
    offset: int | None  # byte offset of the damaged record (in the uncompressed stream)
    detail: str  # TensorFlow's words

    def describe(self) -> str:
        where = f"byte {self.offset}" if self.offset is not None else "an unknown offset"
        return (
            f"{self.path}: damaged record at {where}, after {self.good_records} good records "
            f"({self.detail})"
        )


@dataclasses.dataclass(frozen=True)
class DataSource:
    """Shards matched by a glob, with what their folder's dataset.json and labels.txt say."""

    files: tuple[str, ...]
    info: DatasetInfo
    labels: tuple[str, ...]
    num_examples: int
    folders: tuple[str, ...]
    # With skip_corrupt: records to read of each file (-1: all), so reading stops before damage.
    record_limits: tuple[int, ...] | None = None


def list_shards(globs: str) -> list[str]:
    """Comma-separated local or gs:// globs → sorted shard paths; a glob matching none fails."""
    patterns = [g.strip() for g in globs.split(",") if g.strip()]
    if not patterns:
        raise ValueError(f"expected one or more comma-separated shard globs, got {globs!r}")
    files: set[str] = set()
    for pattern in patterns:
        # 'OUT/*' also matches the files beside the shards (ours and TFDS's metadata), and hidden
        # ones (a shard still being written, '.NAME.tmp', a run's marker); they are never records.
        matched = [
            f
            for f in tf.io.gfile.glob(pattern)
            if not is_side_file(posixpath.basename(f)) and not tf.io.gfile.isdir(f)
        ]
        if not matched:
            raise FileNotFoundError(f"shard glob {pattern!r} matches no file")
        files.update(matched)
    # Sorted, so every worker of a multi-worker job sees the same list before sharding it.
    return sorted(files)


def _folder(path: str) -> str:
    return posixpath.dirname(path) if "://" in path else path.rsplit("/", 1)[0] or "/"


def find_damage(path: str, compression: str) -> ShardDamage | None:
    """Reads a whole shard; where its records stop being readable, or None if they never do."""
    ds = tf.data.TFRecordDataset(path, compression_type=compression)
    try:
        ds.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1)
        return None
    except tf.errors.DataLossError as e:
        detail = _first_line(e)
    good = int(ds.ignore_errors().reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))
    match = re.search(r"record at (\d+)", detail)
    detail = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", detail)
    detail = re.sub(r"\s*\[Op:\w+\].*$", "", detail)
    return ShardDamage(path, good, int(match.group(1)) if match else None, detail)


def corrupt_shard_error(files, compression: str) -> CorruptShardError | None:
    """After a DataLossError: the error naming every damaged shard (None if none is found)."""
    damaged = [d for d in (find_damage(f, compression) for f in files) if d is not None]
    if not damaged:
        return None
    hint = (
        f" Is the compression right? dataset.json says {compression!r}."
        if any(d.offset == 0 and not d.good_records for d in damaged)
        else ""
    )
    return CorruptShardError(
        f"{len(damaged)} damaged shard(s): "
        + "; ".join(d.describe() for d in damaged)
        + ". No record was skipped. Re-create the shard(s), or pass --skip_corrupt to leave out "
        "each damaged shard's records from the damage on." + hint
    )


def skip_damaged(source: DataSource) -> DataSource:
    """Reads every shard once; drops the records from each damaged one's damage on, and says so."""
    compression = source.info.compression
    files, limits, readable, notes = [], [], 0, []
    for path in source.files:
        damage = find_damage(path, compression)
        count = damage.good_records if damage else None
        if count is None:
            ds = tf.data.TFRecordDataset(path, compression_type=compression)
            count = int(ds.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))
        else:
            notes.append(damage.describe())
        readable += count
        if count:
            files.append(path)
            limits.append(count if damage else -1)
    if not notes:
        return source
    skipped = source.num_examples - readable
    logging.warning(
        "--skip_corrupt: %d damaged shard(s); %s records skipped, %d of %d kept. %s",
        len(notes), skipped if skipped >= 0 else "an unknown number of",
        readable, source.num_examples, "; ".join(notes),
    )  # fmt: skip
    if not files:
        raise CorruptShardError(f"every shard is damaged at its first record: {'; '.join(notes)}")
    return dataclasses.replace(
        source, files=tuple(files), num_examples=readable, record_limits=tuple(limits)
    )


def open_source(globs: str, skip_corrupt: bool = False) -> DataSource:
    """Lists the shards and reads dataset.json/labels.txt of every folder they lie in.

    Shards from several folders must agree on the clip format and the label list, since
    one model is trained on all of them. skip_corrupt: read every shard now and leave out
    what follows damage in a shard (logged with the count), instead of stopping there.
    """
    files = list_shards(globs)
    by_folder: dict[str, list[str]] = {}
    for f in files:
        by_folder.setdefault(_folder(f), []).append(f)
    info = labels = None
    first = ""
    num_examples = 0
    for folder, shards in by_folder.items():
        folder_info = read_dataset_info(folder)
        folder_labels = read_labels(folder)
        if len(folder_labels) != folder_info.num_labels:
            raise ValueError(
                f"{folder}: labels.txt has {len(folder_labels)} glosses but dataset.json says "
                f"num_labels={folder_info.num_labels}"
            )
        if info is None:
            info, labels, first = folder_info, folder_labels, folder
        elif (folder_info.clip, folder_info.compression) != (info.clip, info.compression):
            raise ValueError(
                f"{folder}/dataset.json: clip format {folder_info.clip} "
                f"(compression {folder_info.compression!r}) differs from {first}/dataset.json: "
                f"{info.clip} (compression {info.compression!r})"
            )
        elif folder_labels != labels:
            raise ValueError(
                f"{folder}/labels.txt differs from {first}/labels.txt: "
                f"{label_difference(folder_labels, labels)}"
            )
        num_examples += count_examples(shards, folder_info)
    source = DataSource(
        files=tuple(files),
        info=info,
        labels=tuple(labels),
        num_examples=num_examples,
        folders=tuple(by_folder),
    )
    return skip_damaged(source) if skip_corrupt else source


def count_examples(shards: list[str], info: DatasetInfo) -> int:
    """Records in `shards`: from dataset.json (per shard, or per whole split in folders written
    before it recorded shards), else by reading them."""
    names = {posixpath.basename(s): s for s in shards}
    total = 0
    for split, lengths in info.shard_lengths.items():
        for i, count in enumerate(lengths):
            if names.pop(shard_name(split, i, len(lengths), info.compression), None):
                total += count
    for split, counts in info.splits.items():
        n = int(counts.get("shards", 0))
        split_names = [shard_name(split, i, n, info.compression) for i in range(n)]
        if n and all(name in names for name in split_names):
            total += int(counts.get("examples", 0))
            for name in split_names:
                del names[name]
    if names:
        # Part of a split of an older folder: no count on record, so read the records (not parse).
        logging.info("Counting the records of %d shards by reading them", len(names))
        for path in sorted(names.values()):
            ds = tf.data.TFRecordDataset(path, compression_type=info.compression)
            try:
                total += int(ds.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))
            except tf.errors.DataLossError:
                damaged = find_damage(path, info.compression)
                raise CorruptShardError(
                    f"{damaged.describe()}: a damaged shard, or not a TFRecord file with "
                    f"compression {info.compression!r} as dataset.json says"
                ) from None
    return total


def check_shards(source: DataSource) -> None:
    """Parses the first record of every shard, so a foreign or broken shard fails before training.

    Reads one record per shard (in parallel), not the whole data; the label range of every other
    record is asserted inside the pipeline (see `make_dataset`).
    """
    files = tf.data.Dataset.from_tensor_slices(list(source.files))
    # Damaged shards kept under skip_corrupt have their first record whole (others were dropped).
    firsts = files.interleave(
        lambda path: (
            tf.data.TFRecordDataset(path, compression_type=source.info.compression)
            .take(1)
            .map(lambda record: (path, record))
        ),
        cycle_length=min(16, len(source.files)),
        num_parallel_calls=AUTOTUNE,
    )
    clip = source.info.clip
    try:
        for path, record in firsts:
            path = path.numpy().decode()
            try:
                parsed = clip.parse(record, float_frames=False)
            except (tf.errors.InvalidArgumentError, ValueError) as e:
                raise ValueError(
                    f"{path}: record does not match dataset.json (schema version "
                    f"{source.info.schema_version}, clip {clip.frame_shape} "
                    f"{clip.frame_encoding}): {_first_line(e)}"
                ) from None
            label = int(parsed[features.LABEL])
            if not 0 <= label < source.info.num_labels:
                raise ValueError(
                    f"{path}: label {label} is outside [0, {source.info.num_labels}) of labels.txt"
                )
    except tf.errors.DataLossError as e:
        error = corrupt_shard_error(source.files, source.info.compression)
        if error is not None:
            raise error from None
        raise ValueError(
            f"shards matched in {', '.join(source.folders)} are not TFRecord files with "
            f"compression {source.info.compression!r} as dataset.json says ({_first_line(e)})"
        ) from None


def _first_line(error: Exception) -> str:
    message = getattr(error, "message", None) or str(error)
    return message.strip().splitlines()[0] if message.strip() else type(error).__name__


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
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
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
