"""ASL Citizen folder → Manifest: one whole video per clip, labels numbered as Microsoft's code.

The release (`ASL_Citizen/`) holds `splits/train.csv`, `splits/val.csv`, `splits/test.csv`, each
with the header `Participant ID,Video file,Gloss,ASL-LEX Code`, and `videos/` with the files the
`Video file` column names (names may hold spaces; a gloss may hold a slash). `--manifest` is the
`ASL_Citizen` folder; videos default to its `videos/` (`video_dir` overrides). `train.csv` is
required; a split whose file is absent has no clips.

Labels follow the first appearance of each gloss in `train.csv`, as Microsoft's own reader
(ASL-citizen-code, `aslcitizen_dataset.py`) builds its gloss dictionary; glosses are stripped of
outer spaces as that reader does. A gloss that appears only in `val.csv`/`test.csv` (Microsoft's
reader fails on it with a KeyError) gets the next labels, in order of first appearance, and is
reported by the coverage report as a gloss without training clips. Glosses are read in Unicode
NFC. `signer_id` is the number in the participant id (`P12` → 12). Each video is one clip: the
whole file, by its own frames. `clip_id` is the file name as written, unique over all splits, and
so is the file however it is spelt (`./a.mp4` is `a.mp4`); `video_id` its stem. Rows are named
`splits/val.csv: line 7`.
"""

from __future__ import annotations

import os
import re

from preprocess.manifests import reading, video_paths
from preprocess.manifests import validation as v
from preprocess.manifests.base import SPLITS, Clip, Manifest, ManifestError
from schemas import fileio
from schemas.layout import join

FORMAT = "asl_citizen"
HEADER = ("Participant ID", "Video file", "Gloss", "ASL-LEX Code")
_PARTICIPANT_RE = re.compile(r"[Pp]?([0-9]{1,9})\Z")


def read_asl_citizen(root: str, video_dir: str | None = None) -> Manifest:
    """The ASL_Citizen folder → Manifest (videos in `video_dir`, default `<root>/videos`)."""
    if not fileio.isdir(root):
        raise ManifestError(
            f"{root}: not a folder, expected the ASL_Citizen folder holding splits/train.csv"
        )
    root = video_paths.norm_dir(root)
    video_dir = video_paths.norm_dir(video_dir) if video_dir else join(root, "videos")
    if not fileio.exists(join(root, "splits/train.csv")):
        raise ManifestError(
            f"{root}: no splits/train.csv, expected the ASL_Citizen folder holding "
            "splits/{train,val,test}.csv (train.csv numbers the labels)"
        )
    if not fileio.isdir(video_dir):
        raise ManifestError(f"{root}: video_dir {video_dir!r} is not a folder")
    names = {n for n in fileio.listdir(video_dir) if not n.endswith("/")}
    rows = []
    spellings: dict = {}
    for split in SPLITS:
        path = join(root, f"splits/{split}.csv")
        if split == "train" or fileio.exists(path):
            rows += [(split, path, where, cells) for where, cells in _rows(path, spellings)]
    labels: dict[str, int] = {}
    for _, _, _, cells in rows:  # train rows come first
        labels.setdefault(cells[2], len(labels))
    seen: dict[str, str] = {}
    same_clip = video_paths.ClipIndex()
    clips = []
    for split, path, where, cells in rows:
        clip = _clip(path, where, cells, split, labels, video_dir, names)
        if clip.clip_id in seen:
            also = seen[clip.clip_id]
            v.fail(path, where, "Video file", cells[1], f"a file used once (also {also})")
        seen[clip.clip_id] = f"{os.path.basename(path)}: {where}"
        same_clip.add(path, where, clip, "Video file", cells[1])
        clips.append(clip)
    if not clips:
        raise ManifestError(f"{root}: no rows in splits/*.csv, expected at least one clip")
    return Manifest(glosses=tuple(labels), clips=tuple(clips), format=FORMAT)


def _rows(path: str, spellings: dict) -> list[tuple[str, list[str]]]:
    """(row name, [participant, file, gloss, code]) after checking the header."""
    rows = reading.csv_rows(path, f"a header row {','.join(HEADER)!r}")
    header_line, header = rows[0]
    if tuple(h.strip() for h in header) != HEADER:
        raise ManifestError(
            f"{path}: line {header_line}: header {header!r}, expected {','.join(HEADER)!r}"
        )
    out = []
    for line, cells in rows[1:]:
        where = f"line {line}"
        v.check_cells(path, where, cells, len(HEADER), f"as in the header {list(HEADER)}")
        gloss = v.check_gloss(path, where, "Gloss", cells[2].strip(), spellings)
        out.append((where, [cells[0], cells[1], gloss, cells[3]]))
    return out


def _clip(path, where, cells, split, labels, video_dir, names) -> Clip:
    participant, name, gloss, _ = cells
    match = _PARTICIPANT_RE.match(participant.strip())
    if not match:
        v.fail(path, where, "Participant ID", participant, "a participant id like 'P12'")
    if not name or v.has_control(name) or name.startswith("/") or "\\" in name:
        v.fail(
            path,
            where,
            "Video file",
            name,
            "a file name in the videos folder (no control characters, '\\' or leading '/')",
        )
    try:
        full = video_paths.norm_path(join(video_dir, name))
    except ValueError:
        v.fail(path, where, "Video file", name, f"a file inside {video_dir}")
    if "/" not in name:
        found = name in names
    else:  # not in the one listing; looked up alone here, but not one request a clip on gs://
        found = fileio.is_remote(full) or video_paths.video_exists(full)
    tried = () if found else (full,)
    return Clip(
        clip_id=name,
        path=full,
        gloss=gloss,
        label=labels[gloss],
        split=split,
        video_id=os.path.splitext(os.path.basename(name))[0],
        signer_id=int(match.group(1)),
        rel_path=name,
        tried=tried,
    )
