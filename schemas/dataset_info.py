"""The files beside the shards: dataset.json, labels.txt, errors.jsonl, and the shard names.

Paths go through `tf.io.gfile`, so local folders and gs:// buckets work alike.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
from typing import Any

from schemas.features import SCHEMA_VERSION, SCHEMA_VERSIONS_READ, ClipSchema
from schemas.lazy_tf import tensorflow as tf

DATASET_JSON = "dataset.json"
LABELS_TXT = "labels.txt"
ERRORS_JSONL = "errors.jsonl"
COVERAGE_JSON = "coverage.json"
# Every file a finished folder holds beside its shards: a glob like 'OUT/*' must skip them.
METADATA_FILES = (DATASET_JSON, LABELS_TXT, ERRORS_JSONL, COVERAGE_JSON)
COMPRESSIONS = ("", "GZIP")
# What tfds.folder_dataset.write_metadata puts beside the shards (preprocess/tfds_metadata.py):
# two files and the ClassLabel's names, `<feature>.labels.txt`.
TFDS_FILES = ("dataset_info.json", "features.json")
TFDS_LABELS_SUFFIX = ".labels.txt"


def is_side_file(name: str) -> bool:
    """Whether a name in an output folder is a file beside the shards (ours, TFDS's, or a hidden
    one: a shard being written, a run's marker) that a glob like 'OUT/*' also matches."""
    return (
        name in (*METADATA_FILES, *TFDS_FILES)
        or name.endswith(TFDS_LABELS_SUFFIX)
        or name.startswith(".")
    )


def shard_name(split: str, index: int, num_shards: int, compression: str = "") -> str:
    """`{split}-SSSSS-of-NNNNN.tfrecord[.gz]`, the name docs/design.md promises users."""
    suffix = ".tfrecord.gz" if compression == "GZIP" else ".tfrecord"
    return f"{split}-{index:05d}-of-{num_shards:05d}{suffix}"


def shard_pattern(split: str, compression: str = "") -> str:
    suffix = ".tfrecord.gz" if compression == "GZIP" else ".tfrecord"
    return f"{split}-?????-of-?????{suffix}"


def join(folder: str, name: str) -> str:
    """Joins like os.path.join but keeps gs:// URLs intact."""
    return posixpath.join(folder, name) if "://" in folder else f"{folder.rstrip('/')}/{name}"


@dataclasses.dataclass
class DatasetInfo:
    """What a preprocess run wrote; the trainer reads the clip shape and label count back from it."""

    clip: ClipSchema
    compression: str = ""
    splits: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    num_labels: int = 0
    num_failures: int = 0
    command_line: list[str] = dataclasses.field(default_factory=list)
    package_version: str = ""
    schema_version: int = SCHEMA_VERSION
    # Version 2: written clips by cut rule and by WLASL folder layout, and how many were clamped.
    cuts: dict[str, int] = dataclasses.field(default_factory=dict)
    layouts: dict[str, int] = dataclasses.field(default_factory=dict)
    num_clamped: int = 0
    manifest_format: str = ""

    def __post_init__(self):
        if self.compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {COMPRESSIONS}, got {self.compression!r}")
        if self.num_labels < 0:
            raise ValueError(f"num_labels must be >= 0, got {self.num_labels}")

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "num_frames": self.clip.num_frames,
            "size": self.clip.size,
            "frame_encoding": self.clip.frame_encoding,
            "jpeg_quality": self.clip.jpeg_quality,
            "compression": self.compression,
            "splits": self.splits,
            "num_labels": self.num_labels,
            "num_failures": self.num_failures,
            "command_line": self.command_line,
            "package_version": self.package_version,
            "cuts": self.cuts,
            "layouts": self.layouts,
            "num_clamped": self.num_clamped,
            "manifest_format": self.manifest_format,
        }

    @classmethod
    def from_json(cls, data: Any, source: str = DATASET_JSON) -> "DatasetInfo":
        """Validates a parsed dataset.json; errors name the file and the field."""
        if not isinstance(data, dict):
            raise ValueError(f"{source}: expected a JSON object, got {type(data).__name__}")
        version = data.get("schema_version")
        if version not in SCHEMA_VERSIONS_READ or isinstance(version, bool):
            raise ValueError(
                f"{source}: schema_version {version!r} is not supported; "
                f"this package reads schema versions {', '.join(map(str, SCHEMA_VERSIONS_READ))}"
            )
        required = {
            "num_frames": int,
            "size": int,
            "frame_encoding": str,
            "compression": str,
            "splits": dict,
            "num_labels": int,
        }
        for key, kind in required.items():
            if not isinstance(data.get(key), kind) or isinstance(data.get(key), bool):
                raise ValueError(
                    f"{source}: field {key!r} must be {kind.__name__}, got {data.get(key)!r}"
                )
        try:
            clip = ClipSchema(
                num_frames=data["num_frames"],
                size=data["size"],
                frame_encoding=data["frame_encoding"],
                jpeg_quality=data.get("jpeg_quality", 95),
            )
            return cls(
                clip=clip,
                compression=data["compression"],
                splits=data["splits"],
                num_labels=data["num_labels"],
                num_failures=int(data.get("num_failures", 0)),
                command_line=list(data.get("command_line", [])),
                package_version=str(data.get("package_version", "")),
                schema_version=version,
                cuts=dict(data.get("cuts", {})),
                layouts=dict(data.get("layouts", {})),
                num_clamped=int(data.get("num_clamped", 0)),
                manifest_format=str(data.get("manifest_format", "")),
            )
        except ValueError as e:
            raise ValueError(f"{source}: {e}") from None


def write_dataset_info(folder: str, info: DatasetInfo) -> str:
    """Writes dataset.json atomically (temp name, then rename): its presence means the run finished."""
    path = join(folder, DATASET_JSON)
    tmp = join(folder, f".{DATASET_JSON}.tmp")
    with tf.io.gfile.GFile(tmp, "w") as f:
        f.write(json.dumps(info.to_json(), indent=2, sort_keys=True) + "\n")
    tf.io.gfile.rename(tmp, path, overwrite=True)
    return path


def read_dataset_info(folder: str) -> DatasetInfo:
    path = join(folder, DATASET_JSON)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(
            f"{path} not found: expected the dataset.json written by a finished preprocess run"
        )
    with tf.io.gfile.GFile(path) as f:
        text = f.read()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    return DatasetInfo.from_json(data, source=path)


def write_labels(folder: str, glosses: list[str]) -> str:
    """labels.txt: line number = label index, in the manifest's gloss order."""
    for i, gloss in enumerate(glosses):
        if not gloss or "\n" in gloss or "\r" in gloss:
            raise ValueError(f"gloss #{i} {gloss!r} must be non-empty and on one line")
    if len(set(glosses)) != len(glosses):
        raise ValueError("glosses must be unique to map one-to-one onto labels")
    path = join(folder, LABELS_TXT)
    with tf.io.gfile.GFile(path, "w") as f:
        f.write("".join(g + "\n" for g in glosses))
    return path


def read_labels(folder: str) -> list[str]:
    path = join(folder, LABELS_TXT)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"{path} not found: expected one gloss per line")
    with tf.io.gfile.GFile(path) as f:
        labels = f.read().split("\n")
    if labels and labels[-1] == "":
        labels.pop()
    if not labels or any(not g for g in labels):
        raise ValueError(f"{path}: expected one non-empty gloss per line")
    return labels


def label_difference(ours: list[str], theirs: list[str]) -> str:
    """Where two labels.txt first disagree, e.g. "line 3: 'book' vs 'drink'" ('' if equal).

    A count alone does not say whether a model and a dataset were built from different glosses or
    from the same ones in another order; the first differing line does.
    """
    for line, (a, b) in enumerate(zip(ours, theirs), start=1):
        if a != b:
            return f"line {line}: {a!r} vs {b!r}"
    if len(ours) != len(theirs):
        shorter = min(len(ours), len(theirs))
        extra = (ours if len(ours) > shorter else theirs)[shorter]
        return (
            f"{len(ours)} vs {len(theirs)} glosses, the first {shorter} agree; "
            f"line {shorter + 1}: {extra!r}"
        )
    return ""
