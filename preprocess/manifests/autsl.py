"""AUTSL folder → Manifest: `signer<N>_sample<M>_color.mp4` videos, labels by ClassId.

The release (Sincan & Keles, AUTSL, as its ChaLearn challenge ships it) is a folder holding
`train/`, `val/`, `test/` (each sample as `signer<N>_sample<M>_color.mp4` and a
`…_depth.mp4` depth video, which is not a clip), `train_labels.csv`, `validation_labels.csv`,
`test_labels.csv` (no header: `signer<N>_sample<M>,<ClassId>`), and
`SignList_ClassId_TR_EN.csv` (header `ClassId,TR,EN`, UTF-8). `--manifest` is the AUTSL folder;
`video_dir` may name another folder holding `train/ val/ test/`. A split whose labels file is
absent has no clips (videos without a label row are skipped with a warning).

label = ClassId (0 … N-1, every id once); the gloss is the English name `EN` (outer spaces
dropped, Unicode NFC). Two classes whose English names are the same are told apart as
`EN (TR)`, so labels.txt never holds a line twice. `signer_id` = N, `clip_id` = `video_id` =
`signer<N>_sample<M>`; each video is one clip, the whole file by its own frames. Rows are named
`train_labels.csv: line 7`.
"""

from __future__ import annotations

import logging
import re

from preprocess.manifests import reading, video_paths
from preprocess.manifests import validation as v
from preprocess.manifests.base import Clip, Manifest, ManifestError
from schemas import fileio
from schemas.layout import join

FORMAT = "autsl"
CLASSES = "SignList_ClassId_TR_EN.csv"
# (split, labels file, video folder)
LAYOUT = (
    ("train", "train_labels.csv", "train"),
    ("val", "validation_labels.csv", "val"),
    ("test", "test_labels.csv", "test"),
)
_SAMPLE_RE = re.compile(r"signer([0-9]{1,9})_sample([0-9]{1,9})\Z")
_COLOR = "_color.mp4"

logger = logging.getLogger(__name__)


def read_autsl(root: str, video_dir: str | None = None) -> Manifest:
    """The AUTSL folder → Manifest; videos under `video_dir` (default the folder itself)."""
    if not fileio.isdir(root):
        raise ManifestError(f"{root}: not a folder, expected the AUTSL folder holding {CLASSES}")
    root = video_paths.norm_dir(root)
    video_root = video_paths.norm_dir(video_dir) if video_dir else root
    glosses = _classes(join(root, CLASSES))
    seen: dict[str, str] = {}
    clips: list[Clip] = []
    for split, labels_file, folder in LAYOUT:
        path = join(root, labels_file)
        if not fileio.exists(path):
            continue
        videos = _color_videos(join(video_root, folder))
        for line, cells in reading.csv_rows(path, "rows 'signer<N>_sample<M>,<ClassId>'"):
            where = f"line {line}"
            clip = _clip(path, where, cells, split, folder, glosses, video_root, videos)
            if clip.clip_id in seen:
                also = seen[clip.clip_id]
                v.fail(path, where, "sample", clip.clip_id, f"a sample once (also {also})")
            seen[clip.clip_id] = f"{labels_file}: {where}"
            clips.append(clip)
            videos.discard(clip.clip_id)
        if videos:
            logger.warning(
                "%s: skipping %d videos without a row in %s: %s",
                join(video_root, folder), len(videos), labels_file, sorted(videos)[:5],
            )  # fmt: skip
    if not clips:
        raise ManifestError(
            f"{root}: no rows in {', '.join(f for _, f, _ in LAYOUT)}, expected at least one clip"
        )
    return Manifest(glosses=glosses, clips=tuple(clips), format=FORMAT)


def _color_videos(folder: str) -> set[str]:
    """`signer<N>_sample<M>` of every colour video in folder (none if it is absent)."""
    if not fileio.isdir(folder):
        return set()
    return {n[: -len(_COLOR)] for n in fileio.listdir(folder) if n.endswith(_COLOR)}


def _classes(path: str) -> tuple[str, ...]:
    rows = reading.csv_rows(path, "a header row 'ClassId,TR,EN'")
    header_line, header = rows[0]
    if [h.strip() for h in header] != ["ClassId", "TR", "EN"]:
        raise ManifestError(
            f"{path}: line {header_line}: header {header!r}, expected 'ClassId,TR,EN'"
        )
    names: dict[int, tuple[str, str]] = {}
    spellings: dict = {}
    for line, cells in rows[1:]:
        where = f"line {line}"
        v.check_cells(path, where, cells, 3, "(ClassId,TR,EN)")
        class_id = v.int_cell(path, where, "ClassId", cells[0], None)
        if class_id is None or class_id in names:
            v.fail(path, where, "ClassId", cells[0], "a class id given once")
        tr = v.check_gloss(path, where, "TR", cells[1].strip(), spellings)
        names[class_id] = (v.check_gloss(path, where, "EN", cells[2].strip(), spellings), tr)
    if sorted(names) != list(range(len(names))):
        missing = sorted(set(range(len(names))) - set(names))
        raise ManifestError(
            f"{path}: ClassId {missing[0]} is missing, expected the ids 0 … {len(names) - 1}"
        )
    english = [names[i][0] for i in range(len(names))]
    return tuple(
        f"{en} ({tr})" if english.count(en) > 1 else en
        for en, tr in (names[i] for i in range(len(names)))
    )


def _clip(path, where, cells, split, folder, glosses, video_root, videos) -> Clip:
    v.check_cells(path, where, cells, 2, "(signer<N>_sample<M>,<ClassId>)")
    sample = cells[0].strip()
    match = _SAMPLE_RE.match(sample)
    if not match:
        v.fail(path, where, "sample", cells[0], "a sample name like 'signer3_sample17'")
    label = v.int_cell(path, where, "ClassId", cells[1], None)
    if label is None or not 0 <= label < len(glosses):
        v.fail(path, where, "ClassId", cells[1], f"a class id in [0, {len(glosses) - 1}]")
    rel = f"{folder}/{sample}{_COLOR}"
    return Clip(
        clip_id=sample,
        path=join(video_root, rel),
        gloss=glosses[label],
        label=label,
        split=split,
        video_id=sample,
        signer_id=int(match.group(1)),
        rel_path=rel,
        tried=() if sample in videos else (join(video_root, rel),),
    )
