"""Manifest readers: a dataset's metadata and folders → glosses and clips, no decoding.

One module per format, as `--manifest_format` names them (docs/design.md, "Sampling rule" says
how each clip is cut):

- `wlasl`: a `WLASL_v0.3.json` file; videos in `video_dir`, raw or processed layout, per instance.
- `csv`: a `*.csv` with a header row `path,label[,split,frame_start,frame_end,video_id,fps,...]`.
- `folder`: `ROOT/<gloss>/<video>` or `ROOT/<split>/<gloss>/<video>`.
- `msasl`: the MS-ASL folder (`MSASL_{train,val,test}.json`, `MSASL_classes.json`); videos
  `<video_dir>/<YouTube id>.<ext>`, clips cut by time window.
- `asl_citizen`: the `ASL_Citizen` folder (`splits/{train,val,test}.csv`, `videos/`).
- `autsl`: the AUTSL folder (`{train,val,test}/signer<N>_sample<M>_color.mp4`,
  `*_labels.csv`, `SignList_ClassId_TR_EN.csv`).

Every reader returns a `Manifest`: the gloss list (label = index into it, the order labels.txt is
written in), the clips in a stable order, and the reader's name. Readers only read the manifest and
list folders; they never open a video, so every error here happens before the Beam job starts.
All of them raise `ManifestError` (a ValueError) naming the file, the row, the field, the value and
what was expected. A video that is not there is not an error here: the clip's `tried` names the
paths looked for and the pipeline records it as `missing_file`.

Glosses must be non-empty, without control or line-separator characters (labels.txt holds one
per line) and without leading/trailing whitespace (which would be invisible in labels.txt); they
are read in Unicode NFC, and one gloss in two spellings (NFC and NFD) in one manifest is refused.
Integers beyond 2**62 are refused. `frame_start` >= 1, `frame_end` == -1 (to the end) or
>= `frame_start`.

Clip paths are normalised (`./a.mp4` is `a.mp4`; on gs:// the part after the bucket). One file
and window given twice is refused where the manifest is written by hand (CSV, ASL Citizen): in
two splits it trains on the test set. Release formats that share a video between splits (WLASL
raw, MS-ASL) are read as they are; `Manifest.overlap` (and coverage.json) lists those videos.
Manifest files must be regular files (not a FIFO, a device, a socket, or a /proc or /sys file)
of at most 1 GiB; anything else is refused without being opened.

`select` (and `read_manifest`) applies `top_k_glosses` first, then `splits`, so the labels are the
same whichever splits are selected.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from preprocess.manifests import video_paths
from preprocess.manifests.asl_citizen import read_asl_citizen
from preprocess.manifests.autsl import read_autsl
from preprocess.manifests.base import (
    FORMATS,
    MAX_INT,
    SPLITS,
    VIDEO_EXTENSIONS,
    Clip,
    Manifest,
    ManifestError,
)
from preprocess.manifests.csv import CSV_COLUMNS, read_csv
from preprocess.manifests.folder import read_folder
from preprocess.manifests.msasl import read_msasl
from preprocess.manifests.wlasl import read_wlasl_json
from schemas import fileio
from schemas.layout import join

__all__ = [
    "CSV_COLUMNS",
    "FORMATS",
    "MAX_INT",
    "SPLITS",
    "VIDEO_EXTENSIONS",
    "Clip",
    "Manifest",
    "ManifestError",
    "detect_format",
    "read_asl_citizen",
    "read_autsl",
    "read_csv",
    "read_folder",
    "read_manifest",
    "read_msasl",
    "read_wlasl_json",
    "select",
]

# Files that mark a release folder, checked in this order (docs/design.md, "Dataset layouts").
_MSASL_MARKS = ("MSASL_train.json", "MSASL_val.json", "MSASL_test.json", "MSASL_classes.json")
_AUTSL_MARKS = ("SignList_ClassId_TR_EN.csv", "train_labels.csv")


def read_manifest(
    manifest: str,
    video_dir: str | None = None,
    *,
    manifest_format: str | None = None,
    top_k_glosses: int | None = None,
    splits: Sequence[str] | None = None,
) -> Manifest:
    """Reads `manifest` with the reader `manifest_format` names (None: detected), then `select`."""
    # Checked first so a bad flag is reported without listing a bucket.
    _check_selection(top_k_glosses, splits)
    if manifest_format is not None and manifest_format not in FORMATS:
        raise ManifestError(
            f"unknown manifest_format {manifest_format!r}, expected one of {list(FORMATS)} "
            "(or none, to detect it from the manifest)"
        )
    if not isinstance(manifest, str) or not manifest:
        raise ManifestError(f"manifest must be a path, got {manifest!r}")
    kind = manifest_format or detect_format(manifest)
    if kind == "wlasl":
        result = read_wlasl_json(manifest, video_dir)
    elif kind == "csv":
        result = read_csv(manifest, video_dir)
    elif kind == "folder":
        if video_dir is not None and video_paths.norm_dir(video_dir) != video_paths.norm_dir(
            manifest
        ):
            raise ManifestError(
                f"{manifest}: a folder manifest holds its own videos; video_dir={video_dir!r} "
                "must be left unset (or be the same folder)"
            )
        result = read_folder(manifest)
    elif kind == "msasl":
        result = read_msasl(manifest, video_dir)
    elif kind == "asl_citizen":
        result = read_asl_citizen(manifest, video_dir)
    else:
        result = read_autsl(manifest, video_dir)
    return select(result, top_k_glosses=top_k_glosses, splits=splits, source=manifest)


def detect_format(manifest: str) -> str:
    """The format of what `manifest` points at: by extension for a file, by marker files for a
    release folder (MS-ASL, ASL Citizen, AUTSL), else a folder of gloss folders."""
    if fileio.isdir(manifest):
        names = {name.rstrip("/") for name in fileio.listdir(manifest)}
        if any(mark in names for mark in _MSASL_MARKS):
            return "msasl"
        if "splits" in names and any(
            fileio.exists(join(manifest, f"splits/{split}.csv")) for split in SPLITS
        ):
            return "asl_citizen"
        if any(mark in names for mark in _AUTSL_MARKS):
            return "autsl"
        return "folder"
    ext = video_paths.extension(manifest)
    if ext == ".json":
        return "wlasl"
    if ext == ".csv":
        return "csv"
    if not fileio.exists(manifest):
        raise ManifestError(f"{manifest}: no such file or folder")
    raise ManifestError(
        f"{manifest}: unknown manifest kind {ext or '(no extension)'!r}, expected a WLASL "
        "*.json file, a *.csv file, or a folder ROOT/<gloss>/* or ROOT/<split>/<gloss>/* (or "
        f"an MS-ASL, ASL Citizen or AUTSL folder); --manifest_format picks one of {list(FORMATS)}"
    )


def select(
    manifest: Manifest,
    *,
    top_k_glosses: int | None = None,
    splits: Sequence[str] | None = None,
    source: str = "manifest",
) -> Manifest:
    """Keeps the first K glosses, then the chosen splits; labels do not depend on `splits`."""
    _check_selection(top_k_glosses, splits)
    glosses = manifest.glosses
    clips = manifest.clips
    if top_k_glosses is not None:
        if top_k_glosses > len(glosses):
            raise ManifestError(
                f"{source}: top_k_glosses={top_k_glosses} but the manifest has only "
                f"{len(glosses)} glosses"
            )
        glosses = glosses[:top_k_glosses]
        # Labels are gloss indices in manifest order, so the first K keep their labels.
        clips = tuple(c for c in clips if c.label < top_k_glosses)
    if splits is not None:
        wanted = set(splits)
        clips = tuple(c for c in clips if c.split in wanted)
    if not clips:
        raise ManifestError(
            f"{source}: no clips left after selecting top_k_glosses={top_k_glosses}, "
            f"splits={None if splits is None else list(splits)} "
            f"(the manifest has {len(manifest.clips)} clips)"
        )
    return Manifest(glosses=tuple(glosses), clips=tuple(clips), format=manifest.format)


def _check_selection(top_k_glosses: Any, splits: Any) -> None:
    if top_k_glosses is not None and (
        isinstance(top_k_glosses, bool) or not isinstance(top_k_glosses, int) or top_k_glosses < 1
    ):
        raise ManifestError(f"top_k_glosses must be a positive integer, got {top_k_glosses!r}")
    if splits is not None:
        if isinstance(splits, str) or not isinstance(splits, Iterable):
            raise ManifestError(f"splits must be a list of split names, got {splits!r}")
        splits = list(splits)
        if not splits:
            raise ManifestError(f"splits must name at least one of {list(SPLITS)}, got []")
        for s in splits:
            if s not in SPLITS:
                raise ManifestError(
                    f"unknown split {s!r} in splits, expected one of {list(SPLITS)}"
                )
