"""Checks and file helpers every reader shares, so all formats fail alike.

Every failure is a `ManifestError` naming the file, the row (`where`), the field, the value and
what was expected; `fail` writes that sentence. Files go through `schemas.fileio`: local paths
without TensorFlow, gs:// through tf.io.gfile, both read the same way.
"""

from __future__ import annotations

import csv
import decimal
import fractions
import io
import json
import logging
import os
import posixpath
import re
import stat
import unicodedata

from preprocess.manifests.base import MAX_FPS, MAX_INT, SPLITS, VIDEO_EXTENSIONS, ManifestError
from preprocess.video import sampling
from schemas import fileio
from schemas.layout import join  # noqa: F401 - the readers join paths as v.join

logger = logging.getLogger(__name__)

MISSING = object()

INT_RE = re.compile(r"-?[0-9]+\Z")
YOUTUBE_ID_RE = re.compile(r"[A-Za-z0-9_-]{11}")
_YOUTUBE_URL_RE = re.compile(r"(?:[?&]v=|youtu\.be/)([A-Za-z0-9_-]{11})(?![A-Za-z0-9_-])")


def is_youtube(url: str) -> bool:
    """WLASL's own rule (start_kit/preprocess.py): the url names youtube.com or youtu.be."""
    return "youtube.com" in url or "youtu.be" in url


def youtube_id(url: str) -> str | None:
    """The 11-character id after `v=` or `youtu.be/`, the name youtube-dl saves the video under."""
    match = _YOUTUBE_URL_RE.search(url)
    return match.group(1) if match else None


def check_gloss(path, where, field, value, spellings: dict | None = None) -> str:
    """The gloss in NFC. Without it "café" typed on one keyboard (é) and another (e + U+0301)
    becomes two classes that print the same in labels.txt. `spellings`, one dict per manifest,
    refuses both spellings in one manifest: which rows meant which is the author's call; a
    manifest written in NFD throughout is just normalised."""
    if not isinstance(value, str):
        fail(path, where, field, value, "a string")
    if not value:
        fail(path, where, field, value, "a non-empty gloss")
    if has_control(value):
        fail(
            path,
            where,
            field,
            value,
            "a gloss without control or line-break characters (labels.txt holds one per line)",
        )
    if value != value.strip():
        fail(path, where, field, value, "a gloss without leading or trailing whitespace")
    gloss = unicodedata.normalize("NFC", value)
    if spellings is not None:
        first, first_path, first_where = spellings.setdefault(gloss, (value, path, where))
        if first != value:
            place = first_where if first_path == path else f"{first_path}: {first_where}"
            raise ManifestError(
                f"{path}: {where}: field {field!r} is {ascii(value)}, the gloss {ascii(first)} "
                f"of {place} in another Unicode spelling (both are {gloss!r} in NFC), expected "
                "one spelling of each gloss"
            )
    return gloss


def check_video_id(path, where, value) -> str:
    if not isinstance(value, str):
        fail(path, where, "video_id", value, "a string")
    if (
        not value
        or value in (".", "..")
        or "/" in value
        or "\\" in value
        or has_control(value)
        or value != value.strip()
    ):
        fail(
            path,
            where,
            "video_id",
            value,
            "a non-empty file name stem without '/', '\\', control characters or outer spaces",
        )
    return value


def check_split(path, where, field, value) -> str:
    if value not in SPLITS:
        fail(path, where, field, value, f"one of {list(SPLITS)}")
    return value


def check_frames(path, where, frame_start: int, frame_end: int) -> tuple[int, int]:
    if frame_start < 1:
        fail(path, where, "frame_start", frame_start, "a 1-based frame number >= 1")
    if frame_end != -1 and frame_end < 1:
        fail(path, where, "frame_end", frame_end, "-1 (to the end) or a frame number >= 1")
    if frame_end != -1 and frame_start > frame_end:
        fail(
            path,
            where,
            "frame_end",
            frame_end,
            f"-1 or a frame number >= frame_start ({frame_start})",
        )
    return frame_start, frame_end


def check_bbox(path, where, value, shown=MISSING) -> tuple[int, int, int, int]:
    shown = value if shown is MISSING else shown
    if (
        not isinstance(value, list)
        or len(value) != 4
        or any(isinstance(v, bool) or not isinstance(v, int) for v in value)
    ):
        fail(path, where, "bbox", shown, "a list of four integers [x0, y0, x1, y1]")
    x0, y0, x1, y1 = value
    if min(value) < 0 or max(value) > MAX_INT or x0 > x1 or y0 > y1:
        fail(path, where, "bbox", shown, "[x0, y0, x1, y1] with 0 <= x0 <= x1 and 0 <= y0 <= y1")
    return (x0, y0, x1, y1)


def has_control(text: str) -> bool:
    # Cc: control (\n, \r, \t, \x00, \x85 …); Zl/Zp: line/paragraph separators; Cs: lone
    # surrogates that JSON escapes can produce and UTF-8 cannot encode.
    return any(unicodedata.category(ch) in ("Cc", "Zl", "Zp", "Cs") for ch in text)


def fail(path, where, field, value, expected):
    place = f"{path}: {where}: " if where else f"{path}: "
    raise ManifestError(f"{place}field {field!r} is {show(value)}, expected {expected}")


def check_cells(path, where, cells, expected: int, layout: str) -> None:
    """A CSV row must have as many cells as its layout (the header, or the format's columns)."""
    if len(cells) != expected:
        found = f"has {len(cells)} cells"
        raise ManifestError(f"{path}: {where}: {found}, expected {expected} {layout}")


def show(value) -> str:
    if isinstance(value, decimal.Decimal):
        text = f"{value} (a JSON number with a fraction or exponent)"
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, default=_decimal_for_display, ensure_ascii=False)
        text = f"{text} (a JSON {json_type(value)})"
    else:
        text = repr(value)
    return text if len(text) <= 120 else text[:100] + "…" + text[-10:]


def _decimal_for_display(value):
    return float(value) if isinstance(value, decimal.Decimal) else str(value)


def json_type(value) -> str:
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


def quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


# --------------------------------------------------------------------------- files
# WLASL_v0.3.json is 11 MB and a CSV row some 100 bytes: 1 GiB is millions of clips, and still
# fits in memory when read whole.
MAX_MANIFEST_BYTES = 2**30

# Kernel file systems: their files are regular with st_size 0, some never end or block.
_KERNEL_FILE_SYSTEMS = ("/proc", "/sys")

_FILE_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_text(path: str) -> str:
    """The whole manifest file, decoded; refused without opening it when it is not a regular
    file: /dev/zero read whole fills memory, a FIFO blocks the launcher forever."""
    data = _read_local(path) if not fileio.is_remote(path) else _read_remote(path)
    if len(data) > MAX_MANIFEST_BYTES:  # grew while read, or a remote store's file
        raise ManifestError(_too_large(path, f"more than {MAX_MANIFEST_BYTES} bytes"))
    try:
        # utf-8-sig: spreadsheet programs write a byte-order mark at the start of CSV exports.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ManifestError(
            f"{path}: not UTF-8 text (byte {e.start}: {data[e.start : e.start + 4]!r}), "
            "expected a UTF-8 encoded manifest"
        ) from None


def _read_remote(path: str) -> bytes:
    if not fileio.exists(path):
        raise ManifestError(f"{path}: no such file")
    if fileio.isdir(path):
        raise ManifestError(f"{path}: is a folder, expected a file")
    with fileio.open_file(path, "rb") as f:
        return _read_bounded(f)


def _read_local(path: str) -> bytes:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        link = " (a dangling symbolic link)" if os.path.islink(path) else ""
        raise ManifestError(f"{path}: no such file{link}") from None
    except OSError as e:  # a symlink loop, a path through a file, no permission
        raise ManifestError(f"{path}: cannot be read: {e.strerror}, expected a file") from None
    _check_regular(path, info.st_mode)
    real = os.path.realpath(path)
    for root in _KERNEL_FILE_SYSTEMS:
        if real == root or real.startswith(root + "/"):
            raise ManifestError(
                f"{path}: is {real}, a file of the kernel's {root} file system, expected a "
                "manifest file (its size is not known before reading, and some never end)"
            )
    if info.st_size > MAX_MANIFEST_BYTES:
        raise ManifestError(_too_large(path, f"{info.st_size} bytes"))
    try:
        # O_NONBLOCK: were the file swapped for a FIFO since the stat, opening it must not wait
        # for a writer; fstat then sees what was opened.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as e:
        raise ManifestError(f"{path}: cannot be read: {e.strerror}, expected a file") from None
    with os.fdopen(fd, "rb") as f:
        _check_regular(path, os.fstat(fd).st_mode)
        try:
            return _read_bounded(f)
        except OSError as e:
            raise ManifestError(f"{path}: cannot be read: {e.strerror}") from None


def _read_bounded(f) -> bytes:
    """To end of file or one byte past the cap, in pieces: read(n) sets aside n bytes at once,
    1 GiB for a 20-byte file."""
    chunks, size = [], 0
    while size <= MAX_MANIFEST_BYTES:
        chunk = f.read(min(2**24, MAX_MANIFEST_BYTES + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _check_regular(path: str, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise ManifestError(f"{path}: is a folder, expected a file")
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _FILE_KINDS if test(mode)), "a special file")
        raise ManifestError(
            f"{path}: is {kind}, not a regular file, expected a manifest file (it is read "
            "whole, and this could block or never end)"
        )


def _too_large(path: str, size: str) -> str:
    return (
        f"{path}: {size}, larger than the {MAX_MANIFEST_BYTES // 2**20} MiB a manifest may be, "
        "expected a manifest file"
    )


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


# --------------------------------------------------------------------------- JSON
def load_json(path: str, expected: str):
    """Parses a JSON file exactly: floats as Decimal (fps 29.97 is Fraction(2997, 100), not a
    binary float), NaN/Infinity and duplicate keys refused."""
    text = read_text(path)
    if not text.strip():
        raise ManifestError(f"{path}: empty file, expected {expected}")
    try:
        return json.loads(
            text,
            parse_float=decimal.Decimal,
            parse_constant=_refuse_json_constant,
            object_pairs_hook=_object_without_duplicate_keys,
        )
    except json.JSONDecodeError as e:
        raise ManifestError(
            f"{path}: malformed JSON at line {e.lineno} column {e.colno}: {e.msg}"
        ) from None
    except (ValueError, RecursionError) as e:
        raise ManifestError(f"{path}: malformed JSON: {e}") from None


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


def json_int(path, where, field, value) -> int:
    # bool is an int subclass and Decimal is how JSON floats arrive; neither is a frame number.
    if isinstance(value, bool) or not isinstance(value, int):
        fail(path, where, field, value, "a JSON integer")
    if abs(value) > MAX_INT:
        fail(path, where, field, value, "an integer within ±2**62")
    return value


def optional_json_id(path, where, field, value) -> int:
    if value is None:
        return -1
    value = json_int(path, where, field, value)
    if value < -1:
        fail(path, where, field, value, "an integer >= 0 (or -1 for unknown)")
    return value


def json_fps(path, where, value) -> fractions.Fraction:
    return json_fraction(path, where, "fps", value, lambda v: 0 < v <= MAX_FPS,
                         f"a number in (0, {MAX_FPS}]")  # fmt: skip


def json_fraction(path, where, field, value, ok, expected: str) -> fractions.Fraction:
    """A JSON number (int or exact Decimal, see `load_json`) for which ok(value) holds, exactly."""
    if isinstance(value, bool) or not isinstance(value, (int, decimal.Decimal)):
        fail(path, where, field, value, expected)
    # Range first: Fraction(Decimal('1e999999999')) would build a gigantic integer.
    if not ok(value) or (isinstance(value, decimal.Decimal) and len(value.as_tuple().digits) > 18):
        fail(path, where, field, value, f"{expected} with at most 18 digits")
    return fractions.Fraction(value)


# --------------------------------------------------------------------------- CSV cells


def int_cell(path, where, field, cell, default) -> int:
    text = cell.strip()
    if not text:
        return default
    # int() would also take '١٢', '1_000' and ' +1'; a manifest cell should be plain digits.
    if not INT_RE.match(text) or len(text) > 20:
        fail(path, where, field, cell, "an integer written in plain digits")
    value = int(text)
    if abs(value) > MAX_INT:
        fail(path, where, field, cell, "an integer within ±2**62")
    return value


def fps_cell(path, where, cell) -> fractions.Fraction | None:
    try:
        return sampling.parse_rate(cell)  # the one parser predict's --fps uses too
    except ValueError as e:
        fail(path, where, "fps", cell, str(e))


def csv_rows(path: str, expected: str) -> list[tuple[int, list[str]]]:
    """(1-based line, cells) of every non-blank row; a quoted multi-line row is named by the line
    it starts on. UTF-8 with an optional byte-order mark, as spreadsheets export it."""
    text = read_text(path)
    if not text.strip():
        raise ManifestError(f"{path}: empty file, expected {expected}")
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
        raise ManifestError(f"{path}: empty file, expected {expected}")
    return rows
