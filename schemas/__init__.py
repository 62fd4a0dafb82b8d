"""The record contract of preprocess and training: feature keys, encoding, parsing, folder files."""

from schemas.dataset_info import (
    DatasetInfo,
    read_dataset_info,
    read_labels,
    write_dataset_info,
    write_labels,
)
from schemas.features import (
    FRAME_ENCODINGS,
    SCHEMA_VERSION,
    SCHEMA_VERSIONS_READ,
    ClipMeta,
    ClipSchema,
)
from schemas.layout import DATASET_JSON, ERRORS_JSONL, LABELS_TXT, shard_name

__all__ = [
    "DATASET_JSON",
    "ERRORS_JSONL",
    "LABELS_TXT",
    "FRAME_ENCODINGS",
    "SCHEMA_VERSION",
    "SCHEMA_VERSIONS_READ",
    "ClipMeta",
    "ClipSchema",
    "DatasetInfo",
    "read_dataset_info",
    "read_labels",
    "shard_name",
    "write_dataset_info",
    "write_labels",
]
