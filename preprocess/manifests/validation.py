"""Field checks every reader shares, so all formats fail alike.

Every failure is a `ManifestError` naming the file, the row (`where`), the field, the value and
what was expected; `fail` writes that sentence. Reading the files is manifests/reading.py's job,
video paths manifests/video_paths.py's.
"""

from __future__ import annotations

import decimal
import fractions
import json
import logging
import re
import unicodedata

from preprocess.manifests.base import MAX_INT, SPLITS, ManifestError
from preprocess.video import sampling
from preprocess.video.sampling import MAX_FPS

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
    """A JSON number (int or exact Decimal: reading.load_json) for which ok(value) holds."""
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
