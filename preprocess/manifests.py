"""Manifest readers: a WLASL JSON, a CSV or a folder of videos → glosses and clips, no decoding.

Every reader returns a `Manifest`: the gloss list (label = index into it, the order labels.txt is
written in) and the clips in a stable order. Readers only read the manifest and list folders; they
never open a video, so every error here happens before the Beam job starts. All of them raise
`ManifestError` (a ValueError) naming the file, the row, the field, the value and what was expected.

Kinds (`read_manifest` dispatches on the path):

- **WLASL JSON** (`*.json`, the `WLASL_v0.3.json` format): a list of
  `{"gloss": str, "instances": [{...}]}`. Per instance `video_id` (str), `split`, `frame_start`,
  `frame_end` (JSON integers) are required; `fps` (number, the rate WLASL's frame numbers are
  counted at: 25), `signer_id`, `instance_id` (integers), `source` (str) and `bbox` (4 integers
  x0, y0, x1, y1) are optional (missing or null = unknown); other keys (`url`, `variation_id`, …)
  are ignored. Rows are named like `entry 3 (gloss "book"), instance 2`, 0-based as in
  `data[3]["instances"][2]`. Labels follow entry order, so WLASL100/300/1000/2000 are
  `top_k_glosses=100/300/1000/2000`. `video_dir` is required. A gloss given twice, a `video_id`
  given twice anywhere, or an `instance_id` given twice within a gloss is refused. Videos are
  `<video_dir>/<video_id>.<ext>` for any extension in `VIDEO_EXTENSIONS` (compared in lower
  case); `video_dir` is listed once.
  When several files share the stem, the first extension in `VIDEO_EXTENSIONS` wins (`.mp4`
  first), then the file name. A video that is not there is not an error here: the clip keeps the
  path `<video_dir>/<video_id>.mp4`, and the pipeline records it as `missing_file`.
- **CSV** (`*.csv`, UTF-8, optional BOM): a header row naming the columns, `path` and `label`
  (the gloss text) required, optional `split` (default `train`), `frame_start`, `frame_end`,
  `video_id`, `fps` (`25`, `29.97` or `30000/1001`), `signer_id`, `instance_id`, `source`, `bbox`
  (`x0 y0 x1 y1`). An empty optional cell means unknown/default. An unknown column is refused,
  because a misspelt `frame_strat` would otherwise silently mean "the whole video". Header names
  may carry spaces around them; cells are taken as written, and integers must be plain ASCII
  digits with an optional minus sign (no `1.0`, `1e3`, `1_000`). Rows are named by their 1-based
  line number in the file (the first line of a quoted multi-line row). Relative paths are resolved
  against `video_dir` when given, else the CSV's folder; absolute paths and URLs (`gs://…`) are
  kept as written. `..` is allowed and resolved: the CSV is trusted input like the command line,
  and absolute paths could point anywhere anyway (on gs:// it may not climb above the bucket).
  Cells starting with `=`, `+`, `-` or `@` are plain text: nothing here evaluates them, a gloss
  `=SUM(A1)` is that gloss, and an integer field holding `=1` is refused as not an integer.
  `clip_id` is `video_id` if given, else the path as written, plus `#<frame_start>-<frame_end>`
  when either frame column has a value; it must be unique. Labels follow first appearance.
- **Folder**: `ROOT/<gloss>/<video>` or `ROOT/<split>/<gloss>/<video>` (the split layout when
  every top-level folder is one of `SPLITS`). Only files with a video extension count; names
  starting with '.' (macOS `._x.mp4` and the like) are skipped, other files and deeper folders
  are skipped with a warning, and a video right under ROOT or ROOT/<split> is refused (it has no
  gloss). Every gloss folder is a label (even one holding no video), sorted by name; `clip_id` is
  the path relative to ROOT; split `train` in the plain layout. `video_dir` must be unset (or ROOT).

Glosses must be non-empty, without control or line-separator characters (labels.txt holds one
per line) and without leading/trailing whitespace (which would be invisible in labels.txt).
Integers beyond 2**62 are refused. `frame_start` >= 1, `frame_end` == -1 (to the end) or
>= `frame_start`.

`select` (and `read_manifest`) applies `top_k_glosses` first, then `splits`, so the labels are the
same whichever splits are selected.
"""

from __future__ import annotations

import csv
import dataclasses
import decimal
import fractions
import io
import json
import logging
import os
import posixpath
import re
import unicodedata
from typing import Any, Iterable, Sequence

SPLITS = ("train", "val", "test")

# Order matters: when several files share a video_id stem, the earliest extension wins.
VIDEO_EXTENSIONS = (
    ".mp4",
    ".mov",
    ".mkv",
    ".webm",
    ".avi",
    ".m4v",
    ".flv",
    ".mpg",
    ".mpeg",
    ".ts",
    ".m2ts",
    ".mts",
    ".vob",
    ".wmv",
    ".3gp",
    ".ogv",
    ".swf",
)

# Beyond this an int64 feature or a frame count is nonsense; refusing early beats an overflow later.
MAX_INT = 2**62
MAX_FPS = 1000

CSV_COLUMNS = (
    "path",
    "label",
    "split",
    "frame_start",
    "frame_end",
    "video_id",
    "fps",
    "signer_id",
    "instance_id",
    "source",
    "bbox",
)
_CSV_REQUIRED = ("path", "label")

_INT_RE = re.compile(r"-?[0-9]+\Z")
_FPS_RE = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,9})?\Z|[0-9]{1,9}/[0-9]{1,9}\Z")
_BBOX_SPLIT_RE = re.compile(r"[\s,]+")

logger = logging.getLogger(__name__)

_MISSING = object()


class ManifestError(ValueError):
    """A manifest that cannot be read as written; the message names file, row, field and value."""


@dataclasses.dataclass(frozen=True)
class Clip:
    """One record to be: a video file and a frame range of it, with its label and metadata."""

    clip_id: str
    path: str
    gloss: str
    label: int
    split: str = "train"
    frame_start: int = 1
    frame_end: int = -1
    fps: fractions.Fraction | None = None
    video_id: str = ""
    source: str = ""
    instance_id: int = -1
    signer_id: int = -1
    bbox: tuple[int, int, int, int] | None = None
    # Provenance and the cutting rule (docs/design.md, "Sampling rule"). `cut` is one of
    # schemas.features.CUT_RULES; '' picks the rule from `fps` (stated_rate if set, else frames).
    cut: str = ""
    start_time: fractions.Fraction | None = None  # time_window: [start_time, end_time) seconds
    end_time: fractions.Fraction | None = None
    rel_path: str = ""  # the video as the manifest names it (relative to video_dir/manifest)
    layout: str = ""  # WLASL: 'processed' or 'raw' (which folder layout found the file)
    url: str = ""  # where the video came from, as the manifest says (WLASL, MS-ASL)
    # Set when the reader found no file: every path it looked for. The pipeline then records the
    # clip as missing_file naming them (the manifest itself stays valid: videos go missing).
    tried: tuple[str, ...] = ()

    def __post_init__(self):
        from schemas.features import CUT_FRAMES, CUT_RULES, CUT_STATED_RATE, CUT_TIME_WINDOW

        if not self.cut:
            rule = CUT_STATED_RATE if self.fps is not None else CUT_FRAMES
            object.__setattr__(self, "cut", rule)
        if self.cut not in CUT_RULES:
            raise ValueError(f"cut must be one of {CUT_RULES}, got {self.cut!r}")
        if self.cut == CUT_STATED_RATE and self.fps is None:
            raise ValueError(f"{self.clip_id}: cut {CUT_STATED_RATE!r} needs fps")
        if self.cut == CUT_TIME_WINDOW and self.start_time is None:
            raise ValueError(f"{self.clip_id}: cut {CUT_TIME_WINDOW!r} needs start_time")


@dataclasses.dataclass(frozen=True)
class Manifest:
    """Glosses in label order and clips in manifest order."""

    glosses: tuple[str, ...]
    clips: tuple[Clip, ...]
    format: str = ""  # the reader that made it: wlasl, csv, folder, msasl, asl_citizen, autsl


# --------------------------------------------------------------------------- entry point
def read_manifest(
    manifest: str,
    video_dir: str | None = None,
    *,
    top_k_glosses: int | None = None,
    splits: Sequence[str] | None = None,
) -> Manifest:
    """Reads a folder, `*.json` (WLASL) or `*.csv` manifest, then applies `select`."""
    # Checked first so a bad flag is reported without listing a bucket.
    _check_selection(top_k_glosses, splits)
    if not isinstance(manifest, str) or not manifest:
        raise ManifestError(f"manifest must be a path, got {manifest!r}")
    gfile = _gfile()
    if gfile.isdir(manifest):
        if video_dir is not None and _norm_dir(video_dir) != _norm_dir(manifest):
            raise ManifestError(
                f"{manifest}: a folder manifest holds its own videos; video_dir={video_dir!r} "
                "must be left unset (or be the same folder)"
            )
        result = read_folder(manifest)
    else:
        ext = _extension(manifest)
        if ext == ".json":
            result = read_wlasl_json(manifest, video_dir)
        elif ext == ".csv":
            result = read_csv(manifest, video_dir)
        else:
            if not gfile.exists(manifest):
                raise ManifestError(f"{manifest}: no such file or folder")
            raise ManifestError(
                f"{manifest}: unknown manifest kind {ext or '(no extension)'!r}, expected a WLASL "
                "*.json file, a *.csv file, or a folder ROOT/<gloss>/* or ROOT/<split>/<gloss>/*"
            )
    return select(result, top_k_glosses=top_k_glosses, splits=splits, source=manifest)


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
    return Manifest(glosses=tuple(glosses), clips=tuple(clips))


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


# --------------------------------------------------------------------------- WLASL JSON
def read_wlasl_json(path: str, video_dir: str | None) -> Manifest:
    """WLASL_v0.3.json-style file → Manifest; lists `video_dir` once to find each video's file."""
    if video_dir is None or video_dir == "":
        raise ManifestError(
            f"{path}: a WLASL JSON manifest needs video_dir, the folder holding the "
            "<video_id>.mp4 files"
        )
    text = _read_text(path)
    if not text.strip():
        raise ManifestError(f"{path}: empty file, expected a JSON list of gloss entries")
    try:
        data = json.loads(
            text,
            parse_float=decimal.Decimal,  # exact: fps 29.97 becomes Fraction(2997, 100)
            parse_constant=_refuse_json_constant,
            object_pairs_hook=_object_without_duplicate_keys,
        )
    except json.JSONDecodeError as e:
        raise ManifestError(
            f"{path}: malformed JSON at line {e.lineno} column {e.colno}: {e.msg}"
        ) from None
    except (ValueError, RecursionError) as e:
        raise ManifestError(f"{path}: malformed JSON: {e}") from None
    if not isinstance(data, list):
        raise ManifestError(
            f"{path}: top level is a JSON {_json_type(data)}, expected a list of "
            '{"gloss": ..., "instances": [...]} entries'
        )
    video_dir = _norm_dir(video_dir)
    files = _list_videos_by_stem(video_dir, path)

    glosses: list[str] = []
    gloss_where: dict[str, int] = {}
    id_where: dict[str, str] = {}
    clips: list[Clip] = []
    for e, entry in enumerate(data):
        where = f"entry {e}"
        if not isinstance(entry, dict):
            raise ManifestError(
                f"{path}: {where}: is a JSON {_json_type(entry)}, expected an object "
                '{"gloss": ..., "instances": [...]}'
            )
        if "gloss" not in entry:
            raise ManifestError(f"{path}: {where}: field 'gloss' is missing, expected a string")
        gloss = _check_gloss(path, where, "gloss", entry["gloss"])
        if gloss in gloss_where:
            raise ManifestError(
                f"{path}: {where}: field 'gloss' is {gloss!r}, already given by entry "
                f"{gloss_where[gloss]}; expected each gloss once"
            )
        gloss_where[gloss] = e
        label = len(glosses)
        glosses.append(gloss)
        where = f"entry {e} (gloss {_quote(gloss)})"
        instances = entry.get("instances", _MISSING)
        if instances is _MISSING:
            raise ManifestError(f"{path}: {where}: field 'instances' is missing, expected a list")
        if not isinstance(instances, list):
            _fail(path, where, "instances", instances, "a list of instance objects")
        instance_where: dict[int, int] = {}
        for i, inst in enumerate(instances):
            iwhere = f"{where}, instance {i}"
            clip = _wlasl_clip(path, iwhere, inst, gloss, label, video_dir, files)
            if clip.video_id in id_where:
                _fail(
                    path,
                    iwhere,
                    "video_id",
                    clip.video_id,
                    f"a video_id used once (also at {id_where[clip.video_id]})",
                )
            id_where[clip.video_id] = iwhere
            if clip.instance_id != -1:
                if clip.instance_id in instance_where:
                    _fail(
                        path,
                        iwhere,
                        "instance_id",
                        clip.instance_id,
                        f"an instance_id used once within the gloss (also at instance "
                        f"{instance_where[clip.instance_id]})",
                    )
                instance_where[clip.instance_id] = i
            clips.append(clip)
    if not clips:
        raise ManifestError(f"{path}: no instances at all, expected at least one clip")
    return Manifest(glosses=tuple(glosses), clips=tuple(clips))



def _wlasl_clip(path, where, inst, gloss, label, video_dir, files) -> Clip:
    if not isinstance(inst, dict):
        raise ManifestError(
            f"{path}: {where}: is a JSON {_json_type(inst)}, expected an instance object"
        )

    def required(key):
        if key not in inst or inst[key] is None:
            raise ManifestError(f"{path}: {where}: field {key!r} is missing or null")
        return inst[key]

    video_id = _check_video_id(path, where, required("video_id"))
    split = _check_split(path, where, "split", required("split"))
    frame_start, frame_end = _check_frames(
        path,
        where,
        _json_int(path, where, "frame_start", required("frame_start")),
        _json_int(path, where, "frame_end", required("frame_end")),
    )
    fps = inst.get("fps")
    if fps is not None:
        fps = _json_fps(path, where, fps)
    signer_id = _optional_json_id(path, where, "signer_id", inst.get("signer_id"))
    instance_id = _optional_json_id(path, where, "instance_id", inst.get("instance_id"))
    source = inst.get("source")
    if source is None:
        source = ""
    elif not isinstance(source, str) or _has_control(source):
        _fail(path, where, "source", source, "a string without control characters")
    bbox = inst.get("bbox")
    if bbox is not None:
        bbox = _check_bbox(path, where, bbox)
    name = files.get(video_id, video_id + ".mp4")
    return Clip(
        clip_id=video_id,
        path=_join(video_dir, name),
        gloss=gloss,
        label=label,
        split=split,
        frame_start=frame_start,
        frame_end=frame_end,
        fps=fps,
        video_id=video_id,
        source=source,
        instance_id=instance_id,
        signer_id=signer_id,
        bbox=bbox,
    )


def _list_videos_by_stem(video_dir: str, manifest: str) -> dict[str, str]:
    """stem → file name, listing the folder once (one request on gs://, not one per clip)."""
    gfile = _gfile()
    if not gfile.isdir(video_dir):
        raise ManifestError(f"{manifest}: video_dir {video_dir!r} is not a folder")
    rank = {ext: i for i, ext in enumerate(VIDEO_EXTENSIONS)}
    best: dict[str, tuple[int, str]] = {}
    for name in gfile.listdir(video_dir):
        if name.endswith("/") or name.startswith("."):
            continue
        stem, ext = os.path.splitext(name)
        key = (rank.get(ext.lower(), -1), name)
        if key[0] < 0:
            continue
        if stem not in best or key < best[stem]:
            best[stem] = key
    return {stem: name for stem, (_, name) in best.items()}


def _refuse_json_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _object_without_duplicate_keys(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            # json.loads would silently keep the last value; a manifest must mean one thing.
            raise ValueError(f"duplicate key {key!r} in one object")
        obj[key] = value
    return obj


def _json_int(path, where, field, value) -> int:
    # bool is an int subclass and Decimal is how JSON floats arrive; neither is a frame number.
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(path, where, field, value, "a JSON integer")
    if abs(value) > MAX_INT:
        _fail(path, where, field, value, "an integer within ±2**62")
    return value


def _optional_json_id(path, where, field, value) -> int:
    if value is None:
        return -1
    value = _json_int(path, where, field, value)
    if value < -1:
        _fail(path, where, field, value, "an integer >= 0 (or -1 for unknown)")
    return value


def _json_fps(path, where, value) -> fractions.Fraction:
    if isinstance(value, bool) or not isinstance(value, (int, decimal.Decimal)):
        _fail(path, where, "fps", value, f"a number in (0, {MAX_FPS}]")
    # Range first: Fraction(Decimal('1e999999999')) would build a gigantic integer.
    if not 0 < value <= MAX_FPS or (
        isinstance(value, decimal.Decimal) and len(value.as_tuple().digits) > 18
    ):
        _fail(path, where, "fps", value, f"a number in (0, {MAX_FPS}] with at most 18 digits")
    return fractions.Fraction(value)


# --------------------------------------------------------------------------- CSV
def read_csv(path: str, video_dir: str | None = None) -> Manifest:
    """CSV with a header row → Manifest; relative paths against video_dir or the CSV's folder."""
    text = _read_text(path)
    if not text.strip():
        raise ManifestError(f"{path}: empty file, expected a header row 'path,label,...'")
    base = _norm_dir(video_dir) if video_dir else _norm_dir(_dirname(path))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, list[str]]] = []
    last = 0
    try:
        for row in reader:
            start, last = last + 1, reader.line_num
            if row:  # blank lines carry nothing
                rows.append((start, row))
    except csv.Error as e:
        raise ManifestError(f"{path}: line {reader.line_num}: malformed CSV: {e}") from None
    if not rows:
        raise ManifestError(f"{path}: empty file, expected a header row 'path,label,...'")
    header_line, header = rows[0]
    columns = [h.strip() for h in header]
    for i, name in enumerate(columns):
        if name not in CSV_COLUMNS:
            raise ManifestError(
                f"{path}: line {header_line}: unknown column {name!r} (column {i + 1}), expected "
                f"a header row naming columns from {list(CSV_COLUMNS)}, with 'path' and 'label'"
            )
        if columns.index(name) != i:
            raise ManifestError(f"{path}: line {header_line}: column {name!r} appears twice")
    for name in _CSV_REQUIRED:
        if name not in columns:
            raise ManifestError(
                f"{path}: line {header_line}: header {header!r} has no {name!r} column, expected "
                "a header row 'path,label[,split,frame_start,frame_end,video_id,fps,...]'"
            )

    glosses: list[str] = []
    labels: dict[str, int] = {}
    id_line: dict[str, int] = {}
    clips: list[Clip] = []
    for line, row in rows[1:]:
        where = f"line {line}"
        if len(row) != len(columns):
            raise ManifestError(
                f"{path}: {where}: has {len(row)} cells, expected {len(columns)} as in the header "
                f"{columns}"
            )
        cells = dict(zip(columns, row))
        clip_id, clip = _csv_clip(path, where, cells, base)
        if clip_id in id_line:
            _fail(
                path,
                where,
                "clip_id",
                clip_id,
                f"a unique clip (the same clip is on line {id_line[clip_id]})",
            )
        id_line[clip_id] = line
        if clip.gloss not in labels:
            labels[clip.gloss] = len(glosses)
            glosses.append(clip.gloss)
        clips.append(dataclasses.replace(clip, clip_id=clip_id, label=labels[clip.gloss]))
    if not clips:
        raise ManifestError(f"{path}: no rows after the header, expected at least one clip")
    return Manifest(glosses=tuple(glosses), clips=tuple(clips))


def _csv_clip(path, where, cells, base) -> tuple[str, Clip]:
    raw_path = cells["path"]
    if not raw_path or _has_control(raw_path):
        _fail(path, where, "path", raw_path, "a non-empty video path without control characters")
    gloss = _check_gloss(path, where, "label", cells["label"])
    split = cells.get("split", "") or "train"
    split = _check_split(path, where, "split", split)
    start_cell = cells.get("frame_start", "")
    end_cell = cells.get("frame_end", "")
    frame_start, frame_end = _check_frames(
        path,
        where,
        _csv_int(path, where, "frame_start", start_cell, 1),
        _csv_int(path, where, "frame_end", end_cell, -1),
    )
    video_id = cells.get("video_id", "")
    if video_id:
        video_id = _check_video_id(path, where, video_id)
    fps = _csv_fps(path, where, cells.get("fps", ""))
    signer_id = _csv_int(path, where, "signer_id", cells.get("signer_id", ""), -1)
    instance_id = _csv_int(path, where, "instance_id", cells.get("instance_id", ""), -1)
    for field, value in (("signer_id", signer_id), ("instance_id", instance_id)):
        if value < -1:
            _fail(path, where, field, value, "an integer >= 0 (or -1 / empty for unknown)")
    source = cells.get("source", "")
    if _has_control(source):
        _fail(path, where, "source", source, "text without control characters")
    bbox_cell = cells.get("bbox", "").strip()
    bbox = None
    if bbox_cell:
        parts = [p for p in _BBOX_SPLIT_RE.split(bbox_cell.strip("[]() ")) if p]
        if len(parts) != 4 or not all(_INT_RE.match(p) for p in parts):
            _fail(path, where, "bbox", bbox_cell, "four integers 'x0 y0 x1 y1'")
        bbox = _check_bbox(path, where, [int(p) for p in parts], bbox_cell)
    clip_id = video_id or raw_path
    if start_cell.strip() or end_cell.strip():
        clip_id = f"{clip_id}#{frame_start}-{frame_end}"
    clip = Clip(
        clip_id=clip_id,
        path=_resolve(base, raw_path, path, where),
        gloss=gloss,
        label=-1,
        split=split,
        frame_start=frame_start,
        frame_end=frame_end,
        fps=fps,
        video_id=video_id,
        source=source,
        instance_id=instance_id,
        signer_id=signer_id,
        bbox=bbox,
    )
    return clip_id, clip


def _csv_int(path, where, field, cell, default) -> int:
    text = cell.strip()
    if not text:
        return default
    # int() would also take '١٢', '1_000' and ' +1'; a manifest cell should be plain digits.
    if not _INT_RE.match(text) or len(text) > 20:
        _fail(path, where, field, cell, "an integer written in plain digits")
    value = int(text)
    if abs(value) > MAX_INT:
        _fail(path, where, field, cell, "an integer within ±2**62")
    return value


def _csv_fps(path, where, cell) -> fractions.Fraction | None:
    text = cell.strip()
    if not text:
        return None
    if not _FPS_RE.match(text):
        _fail(path, where, "fps", cell, "a frame rate like 25, 29.97 or 30000/1001")
    if "/" in text and int(text.split("/")[1]) == 0:
        _fail(path, where, "fps", cell, "a frame rate with a non-zero denominator")
    fps = fractions.Fraction(text)
    if not 0 < fps <= MAX_FPS:
        _fail(path, where, "fps", cell, f"a frame rate in (0, {MAX_FPS}]")
    return fps


def _resolve(base: str, raw: str, manifest: str, where: str) -> str:
    if "://" in raw or os.path.isabs(raw):
        return raw
    if "://" in base:
        scheme, rest = base.split("://", 1)
        bucket, _, prefix = rest.partition("/")
        # Object stores do not resolve '..' themselves; a literal '..' would name another object.
        joined = posixpath.normpath(posixpath.join(prefix, raw))
        if joined == ".." or joined.startswith("../"):
            _fail(manifest, where, "path", raw, f"a path inside the bucket {scheme}://{bucket}")
        return f"{scheme}://{bucket}/{joined}"
    return os.path.normpath(os.path.join(base, raw))


# --------------------------------------------------------------------------- folder
def read_folder(root: str) -> Manifest:
    """ROOT/<gloss>/* or ROOT/<split>/<gloss>/* → Manifest; glosses sorted by name."""
    gfile = _gfile()
    if not gfile.isdir(root):
        raise ManifestError(f"{root}: not a folder")
    root = _norm_dir(root)
    top_dirs, top_files = _list(root)
    _refuse_loose_videos(root, "", top_files)
    if top_dirs and all(d in SPLITS for d in top_dirs):
        layout = [(split, split + "/") for split in SPLITS if split in top_dirs]
    else:
        layout = [("train", "")]
    per_split: list[tuple[str, str, list[str]]] = []
    all_glosses: set[str] = set()
    for split, prefix in layout:
        dirs, files = _list(_join(root, prefix)) if prefix else (top_dirs, top_files)
        if prefix:
            _refuse_loose_videos(root, prefix, files)
        for d in dirs:
            _check_gloss(root, f"folder {_quote(prefix + d)}", "gloss", d)
        per_split.append((split, prefix, dirs))
        all_glosses.update(dirs)
    glosses = sorted(all_glosses)
    label_of = {g: i for i, g in enumerate(glosses)}
    clips: list[Clip] = []
    for split, prefix, dirs in per_split:
        for gloss in sorted(dirs):
            sub, files = _list(_join(root, prefix + gloss))
            skipped = [f for f in files if not _is_video(f)] + [d + "/" for d in sub]
            if skipped:
                logger.warning(
                    "%s: skipping %d entries that are not video files: %s",
                    _join(root, prefix + gloss),
                    len(skipped),
                    skipped[:5],
                )
            for name in sorted(f for f in files if _is_video(f)):
                rel = f"{prefix}{gloss}/{name}"
                clips.append(
                    Clip(
                        clip_id=rel,
                        path=_join(root, rel),
                        gloss=gloss,
                        label=label_of[gloss],
                        split=split,
                    )
                )
    if not clips:
        raise ManifestError(
            f"{root}: no video files found, expected ROOT/<gloss>/<video> or "
            f"ROOT/<split>/<gloss>/<video> with an extension from {list(VIDEO_EXTENSIONS)}"
        )
    return Manifest(glosses=tuple(glosses), clips=tuple(clips))


def _refuse_loose_videos(root: str, prefix: str, files: list[str]) -> None:
    loose = sorted(f for f in files if _is_video(f))
    if loose:
        raise ManifestError(
            f"{root}: video {prefix + loose[0]!r} is not inside a gloss folder, expected "
            f"ROOT/{prefix or '[<split>/]'}<gloss>/<video>"
        )


def _list(folder: str) -> tuple[list[str], list[str]]:
    """(sub-folders, files), sorted, hidden names skipped."""
    gfile = _gfile()
    remote = "://" in folder
    dirs, files = [], []
    for name in gfile.listdir(folder):
        if name.startswith("."):
            continue
        if name.endswith("/"):
            dirs.append(name.rstrip("/"))
        elif not remote and gfile.isdir(_join(folder, name)):
            dirs.append(name)
        elif remote and not _is_video(name) and gfile.isdir(_join(folder, name)):
            # gs:// marks folders with '/', not every store does; ask only about non-videos.
            dirs.append(name)
        else:
            files.append(name)
    return sorted(dirs), sorted(files)


def _is_video(name: str) -> bool:
    return not name.startswith(".") and _extension(name) in VIDEO_EXTENSIONS


# --------------------------------------------------------------------------- shared checks
def _check_gloss(path, where, field, value) -> str:
    if not isinstance(value, str):
        _fail(path, where, field, value, "a string")
    if not value:
        _fail(path, where, field, value, "a non-empty gloss")
    if _has_control(value):
        _fail(
            path,
            where,
            field,
            value,
            "a gloss without control or line-break characters (labels.txt holds one per line)",
        )
    if value != value.strip():
        _fail(path, where, field, value, "a gloss without leading or trailing whitespace")
    return value


def _check_video_id(path, where, value) -> str:
    if not isinstance(value, str):
        _fail(path, where, "video_id", value, "a string")
    if (
        not value
        or value in (".", "..")
        or "/" in value
        or "\\" in value
        or _has_control(value)
        or value != value.strip()
    ):
        _fail(
            path,
            where,
            "video_id",
            value,
            "a non-empty file name stem without '/', '\\', control characters or outer spaces",
        )
    return value


def _check_split(path, where, field, value) -> str:
    if value not in SPLITS:
        _fail(path, where, field, value, f"one of {list(SPLITS)}")
    return value


def _check_frames(path, where, frame_start: int, frame_end: int) -> tuple[int, int]:
    if frame_start < 1:
        _fail(path, where, "frame_start", frame_start, "a 1-based frame number >= 1")
    if frame_end != -1 and frame_end < 1:
        _fail(path, where, "frame_end", frame_end, "-1 (to the end) or a frame number >= 1")
    if frame_end != -1 and frame_start > frame_end:
        _fail(
            path,
            where,
            "frame_end",
            frame_end,
            f"-1 or a frame number >= frame_start ({frame_start})",
        )
    return frame_start, frame_end


def _check_bbox(path, where, value, shown=_MISSING) -> tuple[int, int, int, int]:
    shown = value if shown is _MISSING else shown
    if (
        not isinstance(value, list)
        or len(value) != 4
        or any(isinstance(v, bool) or not isinstance(v, int) for v in value)
    ):
        _fail(path, where, "bbox", shown, "a list of four integers [x0, y0, x1, y1]")
    x0, y0, x1, y1 = value
    if min(value) < 0 or max(value) > MAX_INT or x0 > x1 or y0 > y1:
        _fail(path, where, "bbox", shown, "[x0, y0, x1, y1] with 0 <= x0 <= x1 and 0 <= y0 <= y1")
    return (x0, y0, x1, y1)


def _has_control(text: str) -> bool:
    # Cc: control (\n, \r, \t, \x00, \x85 …); Zl/Zp: line/paragraph separators; Cs: lone
    # surrogates that JSON escapes can produce and UTF-8 cannot encode.
    return any(unicodedata.category(ch) in ("Cc", "Zl", "Zp", "Cs") for ch in text)


def _fail(path, where, field, value, expected):
    place = f"{path}: {where}: " if where else f"{path}: "
    raise ManifestError(f"{place}field {field!r} is {_show(value)}, expected {expected}")


def _show(value) -> str:
    if isinstance(value, decimal.Decimal):
        text = f"{value} (a JSON number with a fraction or exponent)"
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, default=_decimal_for_display, ensure_ascii=False)
        text = f"{text} (a JSON {_json_type(value)})"
    else:
        text = repr(value)
    return text if len(text) <= 120 else text[:100] + "…" + text[-10:]


def _decimal_for_display(value):
    return float(value) if isinstance(value, decimal.Decimal) else str(value)


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, decimal.Decimal)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


# --------------------------------------------------------------------------- files
def _gfile():
    # TensorFlow is imported on first use: importing this module stays cheap (flag checks, tests
    # of the pure parts), and tf.io.gfile gives local paths and gs:// one interface.
    import tensorflow as tf

    return tf.io.gfile


def _read_text(path: str) -> str:
    gfile = _gfile()
    if not gfile.exists(path):
        raise ManifestError(f"{path}: no such file")
    if gfile.isdir(path):
        raise ManifestError(f"{path}: is a folder, expected a file")
    with gfile.GFile(path, "rb") as f:
        data = f.read()
    try:
        # utf-8-sig: spreadsheet programs write a byte-order mark at the start of CSV exports.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ManifestError(
            f"{path}: not UTF-8 text (byte {e.start}: {data[e.start:e.start + 4]!r}), "
            "expected a UTF-8 encoded manifest"
        ) from None


def _extension(path: str) -> str:
    return os.path.splitext(path.rstrip("/"))[1].lower()


def _dirname(path: str) -> str:
    if "://" in path:
        return posixpath.dirname(path)
    return os.path.dirname(os.path.abspath(path))


def _norm_dir(folder: str) -> str:
    """gs://b/x/ → gs://b/x; local → absolute, so clip paths do not depend on a worker's cwd."""
    if "://" in folder:
        return folder.rstrip("/")
    return os.path.abspath(folder)


def _join(folder: str, name: str) -> str:
    if "://" in folder:
        return f"{folder.rstrip('/')}/{name}"
    return os.path.join(folder, name)
