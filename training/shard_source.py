"""Where the records are: shard discovery, counts from dataset.json, damage, first-record checks.

Kept apart from the tf.data chain (training.input_pipeline), as big_vision keeps data finding
(datasets/core) apart from input_pipeline.make_for_train: everything here runs once, eagerly,
before training, and says which shard is at fault.
"""

from __future__ import annotations

import dataclasses
import logging
import posixpath
import re

import tensorflow as tf

from schemas import features
from schemas.dataset_info import DatasetInfo, label_difference, read_dataset_info, read_labels
from schemas.layout import is_side_file, shard_name

AUTOTUNE = tf.data.AUTOTUNE


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

    @property
    def format(self) -> DataFormat:
        return DataFormat(f"the shards in {', '.join(self.folders)}", self.info, self.labels)


@dataclasses.dataclass(frozen=True)
class DataFormat:
    """What a model trained on some data takes (clips, glosses), and whose data it is."""

    where: str  # e.g. "the shards in OUT", "the run in RUN": the subject of check_same_data's error
    info: DatasetInfo
    labels: tuple[str, ...]


def read_format(folder: str, where: str) -> DataFormat:
    """dataset.json and labels.txt of a shard folder or a run folder (which keeps copies)."""
    return DataFormat(where, read_dataset_info(folder), tuple(read_labels(folder)))


def check_same_data(
    data: DataFormat,
    reference: DataFormat,
    *,
    clip_format: bool = False,
    compression: bool = False,
    advice: str = "",
) -> None:
    """The one answer to "do these shards fit that data?", for every caller, in one message.

    A model fits clips of one frame shape and one labels.txt, so those are always compared;
    shards parsed by one reader must also agree on the rest of the clip format (`clip_format`:
    frame encoding, JPEG quality) and on `compression`. Checked before any model is built, so
    the error names both sides instead of a weight-shape mismatch deep inside Keras.
    """
    ours, theirs = data.info, reference.info
    differences = []
    if ours.clip.frame_shape != theirs.clip.frame_shape:
        differences.append(f"clips {ours.clip.frame_shape} vs {theirs.clip.frame_shape}")
    elif clip_format and ours.clip != theirs.clip:
        differences.append(f"clip format {ours.clip} vs {theirs.clip}")
    if compression and ours.compression != theirs.compression:
        differences.append(f"compression {ours.compression!r} vs {theirs.compression!r}")
    first = label_difference(list(data.labels), list(reference.labels))
    if len(data.labels) != len(reference.labels):
        differences.append(f"{len(data.labels)} classes vs {len(reference.labels)} ({first})")
    elif first:
        differences.append(f"labels.txt lists other glosses ({first})")
    if differences:
        raise ValueError(
            f"{data.where} do not match {reference.where}: {'; '.join(differences)}."
            + (f" {advice}" if advice else "")
        )


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


def count_records(path: str, compression: str, stop_at_damage: bool = False) -> int:
    """Records of a shard, by reading it (not parsing): for shards dataset.json has no count of.

    stop_at_damage: the readable records before the first damaged one, where TFRecord readers
    stop; otherwise damage raises TensorFlow's DataLossError.
    """
    ds = tf.data.TFRecordDataset(path, compression_type=compression)
    if stop_at_damage:
        ds = ds.ignore_errors()
    return int(ds.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))


def find_damage(path: str, compression: str) -> ShardDamage | None:
    """Reads a whole shard; where its records stop being readable, or None if they never do."""
    try:
        count_records(path, compression)
        return None
    except tf.errors.DataLossError as e:
        detail = first_line(e)
    good = count_records(path, compression, stop_at_damage=True)
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
            count = count_records(path, compression)
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
    first: DataFormat | None = None
    num_examples = 0
    for folder, shards in by_folder.items():
        here = read_format(folder, f"the shards in {folder}")
        if len(here.labels) != here.info.num_labels:
            raise ValueError(
                f"{folder}: labels.txt has {len(here.labels)} glosses but dataset.json says "
                f"num_labels={here.info.num_labels}"
            )
        if first is None:
            first = here
        else:
            # One reader parses every shard of a source with the first folder's settings.
            check_same_data(
                here, first, clip_format=True, compression=True,
                advice="The folders of one glob must hold one dataset format and labels.txt.",
            )  # fmt: skip
        num_examples += count_examples(shards, here.info)
    source = DataSource(
        files=tuple(files),
        info=first.info,
        labels=first.labels,
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
            try:
                total += count_records(path, info.compression)
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
    record is asserted inside the pipeline (training.input_pipeline).
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
                    f"{clip.frame_encoding}): {first_line(e)}"
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
            f"compression {source.info.compression!r} as dataset.json says ({first_line(e)})"
        ) from None


def first_line(error: Exception) -> str:
    message = getattr(error, "message", None) or str(error)
    return message.strip().splitlines()[0] if message.strip() else type(error).__name__
