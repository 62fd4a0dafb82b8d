"""Reading a manifest file: bounded, regular files only, JSON and CSV parsed strictly.

A manifest that is a FIFO, a device or a /proc file would block the launcher or grow it without
bound, and a JSON file with duplicate keys or NaN would be read as something it does not say:
every reader goes through here, so all formats refuse these alike, naming the file.
"""

from __future__ import annotations

import csv
import decimal
import io
import json
import os
import stat

from preprocess.manifests.base import ManifestError
from schemas import fileio

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
