"""What the files beside the shards say: dataset.json and labels.txt, read and written.

Their names, and the shard names, are schemas/layout.py's.

Paths go through `schemas.fileio`, so local folders and gs:// buckets work alike.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from schemas import fileio
from schemas.features import SCHEMA_VERSION, SCHEMA_VERSIONS_READ, ClipSchema
from schemas.layout import (
    DATASET_JSON,
    LABELS_TXT,
    join,
)

COMPRESSIONS = ("", "GZIP")
CROPS = ("none", "bbox")  # preprocess --crop: the whole frame squashed, or the manifest's bbox


@dataclasses.dataclass
class DatasetInfo:
    """What a preprocess run wrote; the trainer reads the clip shape and label count back from
    it, predict the decoder and crop."""

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
    # How the frames were made, so predict decodes a video the same way: the decoder
    # (preprocess --decoder) and the crop (CROPS). '' in folders written before they were recorded.
    decoder: str = ""
    crop: str = ""
    # Per split, the records in each shard, in shard order: a glob of some shards is counted
    # without reading them. Empty in folders written before it was recorded.
    shard_lengths: dict[str, list[int]] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {COMPRESSIONS}, got {self.compression!r}")
        if self.num_labels < 0:
            raise ValueError(f"num_labels must be >= 0, got {self.num_labels}")
        if self.crop and self.crop not in CROPS:
            raise ValueError(f"crop must be one of {CROPS}, got {self.crop!r}")
        if not isinstance(self.shard_lengths, dict):
            raise ValueError(f"shard_lengths must be an object, got {self.shard_lengths!r}")
        for split, lengths in self.shard_lengths.items():
            if not isinstance(lengths, list) or not all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in lengths
            ):
                raise ValueError(
                    f"shard_lengths[{split!r}] must be a list of record counts >= 0, "
                    f"got {lengths!r}"
                )

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
            "decoder": self.decoder,
            "crop": self.crop,
            "shard_lengths": self.shard_lengths,
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
                decoder=str(data.get("decoder", "")),
                crop=str(data.get("crop", "")),
                shard_lengths=data.get("shard_lengths", {}),
            )
        except ValueError as e:
            raise ValueError(f"{source}: {e}") from None


def write_dataset_info(folder: str, info: DatasetInfo) -> str:
    """Writes dataset.json atomically (temp name, then rename): its presence means the run
    finished."""
    path = join(folder, DATASET_JSON)
    # A hidden temporary name: a glob like OUT/* never sees half a dataset.json.
    tmp = join(folder, f".{DATASET_JSON}.tmp")
    fileio.write_atomic(path, json.dumps(info.to_json(), indent=2, sort_keys=True) + "\n", tmp)
    return path


def read_dataset_info(folder: str) -> DatasetInfo:
    path = join(folder, DATASET_JSON)
    if not fileio.exists(path):
        raise FileNotFoundError(
            f"{path} not found: expected the dataset.json written by a finished preprocess run"
        )
    with fileio.open_file(path) as f:
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
    with fileio.open_file(path, "w") as f:
        f.write("".join(g + "\n" for g in glosses))
    return path


def read_labels(folder: str) -> list[str]:
    path = join(folder, LABELS_TXT)
    if not fileio.exists(path):
        raise FileNotFoundError(f"{path} not found: expected one gloss per line")
    with fileio.open_file(path) as f:
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
