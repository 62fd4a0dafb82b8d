"""A folder of videos → Manifest: `ROOT/<gloss>/<video>` or `ROOT/<split>/<gloss>/<video>`.

The split layout is used when every top-level folder is one of `SPLITS`. Only files with a video
extension count; names starting with '.' (macOS `._x.mp4` and the like) are skipped, other files
and deeper folders are skipped with a warning, and a video right under ROOT or ROOT/<split> is
refused (it has no gloss). Every gloss folder is a label (even one holding no video), its name
in Unicode NFC (macOS copies write `café` as e + U+0301 in folder names), sorted; `clip_id`
and `rel_path` are the path relative to ROOT, `video_id` the file's stem; split `train` in the
plain layout. `video_dir` must be unset (or ROOT). Frame numbers are the file's own.
"""

from __future__ import annotations

import logging
import os

from preprocess.manifests import validation as v
from preprocess.manifests import video_paths
from preprocess.manifests.base import SPLITS, VIDEO_EXTENSIONS, Clip, Manifest, ManifestError
from schemas import fileio
from schemas.layout import join

FORMAT = "folder"

logger = logging.getLogger(__name__)


def read_folder(root: str) -> Manifest:
    """ROOT/<gloss>/* or ROOT/<split>/<gloss>/* → Manifest; glosses sorted by name."""
    if not fileio.isdir(root):
        raise ManifestError(f"{root}: not a folder")
    root = video_paths.norm_dir(root)
    per_split = _gloss_folders(root)
    glosses = sorted({gloss for _, _, dirs in per_split for gloss in dirs.values()})
    label_of = {g: i for i, g in enumerate(glosses)}
    clips: list[Clip] = []
    for split, prefix, dirs in per_split:
        for folder, gloss in sorted(dirs.items()):
            for rel in _videos(root, prefix + folder):
                clips.append(
                    Clip(
                        clip_id=rel,
                        path=join(root, rel),
                        gloss=gloss,
                        label=label_of[gloss],
                        split=split,
                        video_id=os.path.splitext(rel.rsplit("/", 1)[-1])[0],
                        rel_path=rel,
                    )
                )
    if not clips:
        raise ManifestError(
            f"{root}: no video files found, expected ROOT/<gloss>/<video> or "
            f"ROOT/<split>/<gloss>/<video> with an extension from {list(VIDEO_EXTENSIONS)}"
        )
    return Manifest(glosses=tuple(glosses), clips=tuple(clips), format=FORMAT)


def _gloss_folders(root: str) -> list[tuple[str, str, dict[str, str]]]:
    """(split, 'split/' or '', {gloss folder: gloss}) for the split layout or the plain one.
    The gloss is the folder's name in NFC: macOS file systems store names in NFD."""
    top_dirs, top_files = list_folder(root)
    _refuse_loose_videos(root, "", top_files)
    if top_dirs and all(d in SPLITS for d in top_dirs):
        layout = [(split, split + "/") for split in SPLITS if split in top_dirs]
    else:
        layout = [("train", "")]
    per_split = []
    spellings: dict = {}
    for split, prefix in layout:
        dirs, files = list_folder(join(root, prefix)) if prefix else (top_dirs, top_files)
        if prefix:
            _refuse_loose_videos(root, prefix, files)
        glosses = {
            d: v.check_gloss(root, f"folder {v.quote(prefix + d)}", "gloss", d, spellings)
            for d in dirs
        }
        per_split.append((split, prefix, glosses))
    return per_split


def _videos(root: str, gloss_dir: str) -> list[str]:
    """Paths relative to root of the videos in one gloss folder, sorted; warns about the rest."""
    sub, files = list_folder(join(root, gloss_dir))
    skipped = [f for f in files if not video_paths.is_video(f)] + [d + "/" for d in sub]
    if skipped:
        logger.warning(
            "%s: skipping %d entries that are not video files: %s",
            join(root, gloss_dir),
            len(skipped),
            skipped[:5],
        )
    return [f"{gloss_dir}/{name}" for name in sorted(f for f in files if video_paths.is_video(f))]


def _refuse_loose_videos(root: str, prefix: str, files: list[str]) -> None:
    loose = sorted(f for f in files if video_paths.is_video(f))
    if loose:
        raise ManifestError(
            f"{root}: video {prefix + loose[0]!r} is not inside a gloss folder, expected "
            f"ROOT/{prefix or '[<split>/]'}<gloss>/<video>"
        )


def list_folder(folder: str) -> tuple[list[str], list[str]]:
    """(sub-folders, files), sorted, hidden names skipped."""
    remote = fileio.is_remote(folder)
    dirs, files = [], []
    for name in fileio.listdir(folder):
        if name.startswith("."):
            continue
        if name.endswith("/"):
            dirs.append(name.rstrip("/"))
        elif not remote and fileio.isdir(join(folder, name)):
            dirs.append(name)
        elif remote and not video_paths.is_video(name) and fileio.isdir(join(folder, name)):
            # gs:// marks folders with '/', not every store does; ask only about non-videos.
            dirs.append(name)
        else:
            files.append(name)
    return sorted(dirs), sorted(files)
