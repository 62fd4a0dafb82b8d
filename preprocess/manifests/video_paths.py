"""Video paths as the manifests name them: normalised, looked up, and one clip per file window.

`g1.mp4`, `./g1.mp4` and `sub/../g1.mp4` are one file: paths are normalised before clips are
compared, so the same video cannot land in two splits under two spellings.
"""

from __future__ import annotations

import os
import posixpath

from preprocess.manifests.base import VIDEO_EXTENSIONS, ManifestError
from preprocess.manifests.validation import show
from schemas import fileio


def norm_path(path: str) -> str:
    """`a/./b//c.mp4` → `a/b/c.mp4`, `x/../g1.mp4` → `g1.mp4`, gs://b/x/../y → gs://b/y: one
    spelling per file, so the duplicate check sees `g1.mp4` and `./g1.mp4` as one video.
    ValueError for a URL whose '..' climbs above its bucket (an object store does not resolve
    '..', a literal one names another object)."""
    if not fileio.is_remote(path):
        return os.path.normpath(path)
    scheme, rest = path.split("://", 1)
    bucket, _, key = rest.partition("/")
    if _climbs(key):
        raise ValueError(f"{path}: '..' climbs above {scheme}://{bucket}")
    key = posixpath.normpath(key).lstrip("/") if key else ""
    return f"{scheme}://{bucket}/{key}" if key not in ("", ".") else f"{scheme}://{bucket}"


def _climbs(key: str) -> bool:
    depth = 0
    for part in key.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part and part != ".":
            depth += 1
    return False


def video_exists(path: str) -> bool:
    """Whether a video is there to be decoded. Locally a link counts, dangling or looping: the
    decoder then names what it is instead of the clip being reported as a missing file."""
    return fileio.exists(path) if fileio.is_remote(path) else os.path.lexists(path)


# --------------------------------------------------------------------------- duplicates
class ClipIndex:
    """Refuses a second clip of one video and window, however the path is spelt: `g1.mp4`,
    `./g1.mp4` and `sub/../g1.mp4` in train, val and test would train on the test clips.

    The same video at other windows is allowed: a long video cut into clips is a real layout
    (coverage.json lists videos in several splits). Clip paths must already be normalised."""

    def __init__(self):
        self._first: dict[tuple, tuple[str, str, str, str]] = {}

    def add(self, path: str, where: str, clip, field: str, spelling: str) -> None:
        from schemas.coverage import clip_window

        window = clip_window(clip)
        key = (clip.path, window)
        if key not in self._first:
            self._first[key] = (path, where, spelling, clip.split)
            return
        first_path, first_where, first_spelling, first_split = self._first[key]
        place = first_where if first_path == path else f"{first_path}: {first_where}"
        leak = (
            f"; a clip in splits {first_split!r} and {clip.split!r} would be trained on and "
            "evaluated on"
            if first_split != clip.split
            else ""
        )
        raise ManifestError(
            f"{path}: {where}: field {field!r} is {show(spelling)} (split {clip.split!r}), the "
            f"same clip as {show(first_spelling)} of {place} (split {first_split!r}): both are "
            f"{clip.path}, {describe_window(window)}; expected each clip once{leak}"
        )


def describe_window(window: tuple) -> str:
    if window[0] == "whole":
        return "the whole video"
    if window[0] == "time":
        return f"seconds {float(window[1]):g} to {float(window[2]):g}"
    _, start, end, fps = window
    rate = f" at {fps} fps" if fps is not None else ""
    return f"frames {start} to {'the end' if end == -1 else end}{rate}"


def extension(path: str) -> str:
    return os.path.splitext(path.rstrip("/"))[1].lower()


def dirname(path: str) -> str:
    if fileio.is_remote(path):
        return posixpath.dirname(path)
    return os.path.dirname(os.path.abspath(path))


def norm_dir(folder: str) -> str:
    """gs://b/x/ → gs://b/x; local → absolute, so clip paths do not depend on a worker's cwd."""
    if fileio.is_remote(folder):
        return folder.rstrip("/")
    return os.path.abspath(folder)


def list_videos_by_stem(video_dir: str, manifest: str) -> dict[str, str]:
    """stem → file name, listing the folder once (one request on gs://, not one per clip).

    When several files share the stem, the first extension in VIDEO_EXTENSIONS wins (`.mp4`
    first), then the file name; hidden names (`._x.mp4`) are never taken.
    """
    if not fileio.isdir(video_dir):
        raise ManifestError(f"{manifest}: video_dir {video_dir!r} is not a folder")
    rank = {ext: i for i, ext in enumerate(VIDEO_EXTENSIONS)}
    best: dict[str, tuple[int, str]] = {}
    for name in fileio.listdir(video_dir):
        if name.endswith("/") or name.startswith("."):
            continue
        stem, ext = os.path.splitext(name)
        key = (rank.get(ext.lower(), -1), name)
        if key[0] < 0:
            continue
        if stem not in best or key < best[stem]:
            best[stem] = key
    return {stem: name for stem, (_, name) in best.items()}


def is_video(name: str) -> bool:
    return not name.startswith(".") and extension(name) in VIDEO_EXTENSIONS
