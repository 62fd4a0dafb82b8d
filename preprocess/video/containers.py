"""A video file's own container bytes, read without FFmpeg: MP4/MOV boxes, the Matroska/WebM
EBML header, the AVI RIFF chunk.

Two things FFmpeg does not tell us come from here: whether the header declares a longer file
than the one on disk (a cut-short download: `declared_past_end`, which decord's wrapper uses
too), and the MP4 track's display matrix, which PyAV 18 does not expose.
"""

from __future__ import annotations

import io
import math
import struct
from typing import Callable, Iterator

import numpy as np

# ISO-BMFF (MP4/MOV) boxes: PyAV 18 does not expose the stream's display matrix (frames carry no
# DISPLAYMATRIX side data either), so it is read from the track header here, as FFmpeg's mov
# demuxer does. The same walk tells a cut-short MP4 (no moov, or a box past the end) from junk.

_TOP_LEVEL_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"uuid", b"pdin", b"meta"}


def _boxes(f, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload offset, box end) for each box in [start, end); end may exceed the file."""
    pos = start
    while pos + 8 <= end:
        f.seek(pos)
        head = f.read(16)
        if len(head) < 8:
            return
        size, kind = struct.unpack(">I4s", head[:8])
        header = 8
        if size == 1:
            if len(head) < 16:
                return
            size = struct.unpack(">Q", head[8:16])[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header:
            return
        yield kind, pos + header, pos + size
        pos += size


def mp4_layout(f, file_size: int) -> str | None:
    """For an ISO-BMFF file: 'ok', 'no_moov' or 'past_end'; None if it is not ISO-BMFF at all."""
    boxes = list(_boxes(f, 0, file_size))
    if not boxes or boxes[0][0] not in _TOP_LEVEL_BOXES:
        return None
    if any(box_end > file_size for kind, _, box_end in boxes if kind in _TOP_LEVEL_BOXES):
        return "past_end"
    return "ok" if any(kind == b"moov" for kind, _, _ in boxes) else "no_moov"


def _ebml_vint(f) -> tuple[int, bool] | None:
    """An EBML variable-size integer: (value, all value bits set = "unknown size")."""
    first = f.read(1)
    if not first or first[0] == 0:
        return None
    length = 9 - first[0].bit_length()
    rest = f.read(length - 1)
    if len(rest) < length - 1:
        return None
    value = first[0] & ((1 << (8 - length)) - 1)
    for b in rest:
        value = (value << 8) | b
    return value, value == (1 << (7 * length)) - 1


def declared_past_end(f, file_size: int) -> str | None:
    """Why the container's own header says the file should be longer than it is, else None.

    MP4/MOV boxes, the AVI RIFF chunk and the Matroska/WebM Segment carry their sizes; a file
    that ends before them was cut short. Sizes a writer leaves open (0, unknown) are skipped.
    """
    f.seek(0)
    head = f.read(12)
    if head[:4] == b"RIFF":
        declared = struct.unpack("<I", head[4:8])[0]
        if 0 < declared < 0xFFFFFFFF and declared + 8 > file_size:
            return f"RIFF header declares {declared + 8} bytes, the file has {file_size}"
        return None
    if head[:4] == b"\x1a\x45\xdf\xa3":
        f.seek(4)
        header = _ebml_vint(f)
        if header is None:
            return None
        f.seek(f.tell() + header[0])
        if f.read(4) != b"\x18\x53\x80\x67":
            return None
        segment = _ebml_vint(f)
        if segment is not None and not segment[1] and f.tell() + segment[0] > file_size:
            declared = f.tell() + segment[0]
            return f"Matroska segment declares {declared} bytes, the file has {file_size}"
        return None
    f.seek(0)
    if mp4_layout(f, file_size) == "past_end":
        return "an MP4/MOV box reaches past the end of the file"
    return None


def _read_matrix(payload: bytes) -> list[int]:
    return list(struct.unpack(">9i", payload))


def mp4_display_matrix(f, file_size: int, track_id: int) -> list[int] | None:
    """The display matrix FFmpeg's mov demuxer derives (tkhd x mvhd) for track_id, or None."""
    moov = next((b for b in _boxes(f, 0, file_size) if b[0] == b"moov"), None)
    if moov is None:
        return None
    movie = [65536, 0, 0, 0, 65536, 0, 0, 0, 1 << 30]
    for kind, off, end in _boxes(f, moov[1], min(moov[2], file_size)):
        if kind == b"mvhd":
            f.seek(off)
            version = f.read(1)[0]
            # version(1) flags(3) times(8|16+4) ... rate(4) volume(2) reserved(10) matrix(36)
            f.seek(off + 4 + (28 if version == 1 else 16) + 4 + 2 + 10)
            movie = _read_matrix(f.read(36))
        elif kind == b"trak":
            for sub, soff, _ in _boxes(f, off, end):
                if sub != b"tkhd":
                    continue
                f.seek(soff)
                version = f.read(1)[0]
                f.seek(soff + 4 + (16 if version == 1 else 8))
                if struct.unpack(">I", f.read(4))[0] != track_id:
                    continue
                # ... reserved(4) duration(4|8) reserved(8) layer(2) group(2) volume(2) res(2)
                f.seek(soff + 4 + (16 if version == 1 else 8) + 4 + 4 + (8 if version == 1 else 4))
                f.seek(8 + 2 + 2 + 2 + 2, io.SEEK_CUR)
                track = _read_matrix(f.read(36))
                shifts = (16, 16, 30)
                return [
                    sum((track[3 * i + e] * movie[3 * e + j]) >> shifts[e] for e in range(3))
                    for i in range(3)
                    for j in range(3)
                ]
    return None


def display_transform(matrix: list[int] | None) -> Callable[[np.ndarray], np.ndarray]:
    """What ffmpeg's CLI autorotate does for this display matrix, on an (H, W, 3) array."""
    if matrix is None:
        return lambda a: a
    # av_display_rotation_get(), then fftools' get_rotation(): clockwise degrees in [0, 360).
    fp = [v / 65536.0 for v in matrix]
    scale0, scale1 = math.hypot(fp[0], fp[3]), math.hypot(fp[1], fp[4])
    if scale0 == 0 or scale1 == 0:
        raise ValueError(f"degenerate display matrix {matrix}")
    theta = -round(-math.degrees(math.atan2(fp[1] / scale1, fp[0] / scale0)))
    theta -= 360 * math.floor(theta / 360 + 0.9 / 360)
    if abs(theta - 90) < 1:
        if matrix[3] > 0:  # transpose=cclock_flip
            return lambda a: a.transpose(1, 0, 2)
        return lambda a: np.rot90(a, -1)  # transpose=clock
    if abs(theta - 180) < 1:
        return lambda a: a[:: -1 if matrix[4] < 0 else 1, :: -1 if matrix[0] < 0 else 1]
    if abs(theta - 270) < 1:
        if matrix[3] < 0:  # transpose=clock_flip
            return lambda a: np.rot90(a, -1)[::-1]
        return lambda a: np.rot90(a, 1)  # transpose=cclock
    if abs(theta) < 1:
        return (lambda a: a[::-1]) if matrix[4] < 0 else (lambda a: a)
    raise ValueError(f"rotation of {theta} degrees is not a multiple of 90")
