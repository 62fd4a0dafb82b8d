"""CSV manifest (`*.csv`) → Manifest: one row per clip, labels by first appearance.

UTF-8, optional BOM: a header row naming the columns, `path` and `label` (the gloss text)
required, optional `split` (default `train`), `frame_start`, `frame_end`, `video_id`, `fps` (`25`,
`29.97` or `30000/1001`), `signer_id`, `instance_id`, `source`, `bbox` (`x0 y0 x1 y1`). An empty
optional cell means unknown/default. An unknown column is refused, because a misspelt
`frame_strat` would otherwise silently mean "the whole video". Header names may carry spaces
around them; cells are taken as written, and integers must be plain ASCII digits with an optional
minus sign (no `1.0`, `1e3`, `1_000`). Rows are named by their 1-based line number in the file
(the first line of a quoted multi-line row). Relative paths are resolved against `video_dir` when
given, else the CSV's folder; absolute paths and URLs (`gs://…`) are taken as written. Every
path is normalised (`./a.mp4`, `x/../a.mp4` and `a.mp4` are one file; on a URL the part after
the bucket): `..` is allowed and resolved, as the CSV is trusted input like the command line
and absolute paths could point anywhere anyway (on gs:// it may not climb above the bucket).
Labels are read in Unicode NFC (`validation.check_gloss`). Cells starting with `=`, `+`, `-` or
`@` are plain text: nothing here evaluates them, a gloss `=SUM(A1)` is that gloss, and an
integer field holding `=1` is refused as not an integer.

`clip_id` is `video_id` if given, else the path as written, plus `#<frame_start>-<frame_end>` when
either frame column has a value; it must be unique. One file and window is one clip, however
its path is spelt: given twice (in two splits it would leak the test set into training) it is
refused; other windows of one file are other clips, in any split (coverage.json lists them).
The clip's `video_id` is the cell, or when empty the file's stem (`v/a.mp4` → `a`), and
`rel_path` the path cell as written, so every record can be traced back to its file. Without an
`fps` column frame numbers are the file's own.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import re

from preprocess.manifests import reading, video_paths
from preprocess.manifests import validation as v
from preprocess.manifests.base import Clip, Manifest, ManifestError
from schemas import fileio
from schemas.layout import join

FORMAT = "csv"

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
_BBOX_SPLIT_RE = re.compile(r"[\s,]+")


def read_csv(path: str, video_dir: str | None = None) -> Manifest:
    """CSV with a header row → Manifest; relative paths against video_dir or the CSV's folder."""
    rows = reading.csv_rows(path, "a header row 'path,label,...'")
    base = (
        video_paths.norm_dir(video_dir)
        if video_dir
        else video_paths.norm_dir(video_paths.dirname(path))
    )
    header_line, header = rows[0]
    columns = _columns(path, header_line, header)
    glosses: list[str] = []
    labels: dict[str, int] = {}
    id_line: dict[str, int] = {}
    spellings: dict = {}
    same_clip = video_paths.ClipIndex()
    clips: list[Clip] = []
    for line, row in rows[1:]:
        where = f"line {line}"
        v.check_cells(path, where, row, len(columns), f"as in the header {columns}")
        clip = _clip(path, where, dict(zip(columns, row)), base, spellings)
        if clip.clip_id in id_line:
            v.fail(
                path,
                where,
                "clip_id",
                clip.clip_id,
                f"a unique clip (the same clip is on line {id_line[clip.clip_id]})",
            )
        id_line[clip.clip_id] = line
        same_clip.add(path, where, clip, "path", clip.rel_path)
        if clip.gloss not in labels:
            labels[clip.gloss] = len(glosses)
            glosses.append(clip.gloss)
        clips.append(dataclasses.replace(clip, label=labels[clip.gloss]))
    if not clips:
        raise ManifestError(f"{path}: no rows after the header, expected at least one clip")
    return Manifest(glosses=tuple(glosses), clips=tuple(clips), format=FORMAT)


def _columns(path, header_line, header) -> list[str]:
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
    return columns


def _clip(path, where, cells, base, spellings) -> Clip:
    raw_path = cells["path"]
    if not raw_path or v.has_control(raw_path):
        v.fail(path, where, "path", raw_path, "a non-empty video path without control characters")
    gloss = v.check_gloss(path, where, "label", cells["label"], spellings)
    split = cells.get("split", "") or "train"
    split = v.check_split(path, where, "split", split)
    start_cell = cells.get("frame_start", "")
    end_cell = cells.get("frame_end", "")
    frame_start, frame_end = v.check_frames(
        path,
        where,
        v.int_cell(path, where, "frame_start", start_cell, 1),
        v.int_cell(path, where, "frame_end", end_cell, -1),
    )
    video_id = cells.get("video_id", "")
    if video_id:
        video_id = v.check_video_id(path, where, video_id)
    fps = v.fps_cell(path, where, cells.get("fps", ""))
    signer_id = v.int_cell(path, where, "signer_id", cells.get("signer_id", ""), -1)
    instance_id = v.int_cell(path, where, "instance_id", cells.get("instance_id", ""), -1)
    for field, value in (("signer_id", signer_id), ("instance_id", instance_id)):
        if value < -1:
            v.fail(path, where, field, value, "an integer >= 0 (or -1 / empty for unknown)")
    source = cells.get("source", "")
    if v.has_control(source):
        v.fail(path, where, "source", source, "text without control characters")
    bbox = _bbox(path, where, cells.get("bbox", "").strip())
    clip_id = video_id or raw_path
    if start_cell.strip() or end_cell.strip():
        clip_id = f"{clip_id}#{frame_start}-{frame_end}"
    return Clip(
        clip_id=clip_id,
        path=_resolve(base, raw_path, path, where),
        gloss=gloss,
        label=-1,
        split=split,
        frame_start=frame_start,
        frame_end=frame_end,
        fps=fps,
        video_id=video_id or _stem(raw_path),
        source=source,
        instance_id=instance_id,
        signer_id=signer_id,
        bbox=bbox,
        rel_path=raw_path,
    )


def _bbox(path, where, cell):
    if not cell:
        return None
    parts = [p for p in _BBOX_SPLIT_RE.split(cell.strip("[]() ")) if p]
    if len(parts) != 4 or not all(v.INT_RE.match(p) for p in parts):
        v.fail(path, where, "bbox", cell, "four integers 'x0 y0 x1 y1'")
    return v.check_bbox(path, where, [int(p) for p in parts], cell)


def _stem(raw_path: str) -> str:
    """`v/a.mp4` → `a`: a CSV without video_id still says which file a record came from."""
    return os.path.splitext(posixpath.basename(raw_path.replace("\\", "/")))[0]


def _resolve(base: str, raw: str, manifest: str, where: str) -> str:
    if fileio.is_remote(raw) or os.path.isabs(raw):
        full = raw
    else:
        full = join(base, raw) if fileio.is_remote(base) else os.path.join(base, raw)
    try:
        return video_paths.norm_path(full)
    except ValueError:
        # Object stores do not resolve '..' themselves; a literal '..' would name another object.
        scheme, rest = full.split("://", 1)
        bucket = rest.partition("/")[0]
        v.fail(manifest, where, "path", raw, f"a path inside the bucket {scheme}://{bucket}")
