"""The output folder's layout: every file name a preprocess run writes, and the shard names.

One module owns these names so that the launcher, the Beam job, the inspector, TFDS's metadata
writer and the trainer cannot drift apart (docs/design.md, "Output folder"). Users, scripts and
tests rely on the names themselves: change none of them. Plain strings only: importing this
module costs neither TensorFlow nor numpy.
"""

from __future__ import annotations

import re

# A finished folder: the shards and these four files, dataset.json written last ("finished").
DATASET_JSON = "dataset.json"
LABELS_TXT = "labels.txt"
ERRORS_JSONL = "errors.jsonl"
COVERAGE_JSON = "coverage.json"
# Every file a finished folder holds beside its shards: a glob like 'OUT/*' must skip them.
METADATA_FILES = (DATASET_JSON, LABELS_TXT, ERRORS_JSONL, COVERAGE_JSON)
# What tfds.folder_dataset.write_metadata puts beside the shards (preprocess/tfds_metadata.py):
# two files and the ClassLabel's names, `<feature>.labels.txt`.
TFDS_FILES = ("dataset_info.json", "features.json")
TFDS_LABELS_SUFFIX = ".labels.txt"

# While a run is under way (all hidden, so a shard glob skips them):
# written first by every run; a folder holding it but no dataset.json is a run cut short.
STARTED_JSON = ".preprocess-started.json"
# left instead of dataset.json by a run that failed its checks (preprocess.outcome).
FAILED_JSON = ".preprocess-failed.json"
# the validated clip list the job reads (preprocess.staging).
STAGED_CLIPS = ".clips.jsonl"
# encoded records, one file each, until their shard is written (preprocess.decode_step).
RECORDS_DIR = ".records"
# what the job leaves for the launcher, which turns it into dataset.json (preprocess.outcome).
RUN_STATS_JSON = ".run-stats.json"
# the clip id of every record the shard writers wrote, for the launcher's accounting.
WRITTEN_JSONL = ".written.jsonl"
# one run per folder: flock'd by the run writing it, kept afterwards (preprocess/output_lock.py).
LOCK_FILE = ".preprocess.lock"

SHARD_SUFFIXES = {"": ".tfrecord", "GZIP": ".tfrecord.gz"}  # by compression
_SHARD_NAME = re.compile(r"^(?P<split>.+)-\d{5}-of-\d{5}\.tfrecord(\.gz)?$")


def shard_name(split: str, index: int, num_shards: int, compression: str = "") -> str:
    """`{split}-SSSSS-of-NNNNN.tfrecord[.gz]`, the name docs/design.md promises users."""
    return f"{split}-{index:05d}-of-{num_shards:05d}{SHARD_SUFFIXES[compression]}"


def shard_pattern(split: str, compression: str = "") -> str:
    """The glob that matches every shard of a split (and nothing else a run writes)."""
    return f"{split}-?????-of-?????{SHARD_SUFFIXES[compression]}"


def shard_split(name: str) -> str | None:
    """'test' for 'test-00000-of-00004.tfrecord' (a base name); None for any other name."""
    match = _SHARD_NAME.match(name)
    return match.group("split") if match else None


def is_side_file(name: str) -> bool:
    """Whether a name in an output folder is a file beside the shards (ours, TFDS's, or a hidden
    one: a shard being written, a run's marker) that a glob like 'OUT/*' also matches."""
    return (
        name in (*METADATA_FILES, *TFDS_FILES)
        or name.endswith(TFDS_LABELS_SUFFIX)
        or name.startswith(".")
    )


def is_run_file(name: str) -> bool:
    """Whether a name in an output folder is something a preprocess run writes (a shard, a
    metadata file, a marker, a temporary file of one): what --overwrite removes."""
    return (
        name in (*METADATA_FILES, *TFDS_FILES, STARTED_JSON, RUN_STATS_JSON, FAILED_JSON)
        or name.startswith(WRITTEN_JSONL)
        or ".tfrecord" in name
        or name.startswith(f".{DATASET_JSON}")
        or name.startswith(STARTED_JSON)
        or name.startswith(f"{COVERAGE_JSON}.")
        or name.startswith(STAGED_CLIPS)
        or name.endswith(TFDS_LABELS_SUFFIX)
        or name.rstrip("/") == RECORDS_DIR
    )


def join(folder: str, name: str) -> str:
    """`folder/name` for local folders and URLs alike (gs://bucket/x): os.path.join would break
    a URL on Windows, and posixpath.join would drop the folder for a name starting with '/'."""
    return f"{folder.rstrip('/')}/{name}" if folder else name
