"""Video file -> sampled, upright, resized uint8 RGB frames, exactly as ffmpeg decodes it (PyAV).

Frames are decoded sequentially in display order (the order the decoder outputs them), every frame
the decoder yields counts, none is duplicated or dropped: the sequence ffmpeg's CLI writes with
`-fps_mode passthrough`. No seeking: seeking is where frame-accurate readers go wrong.

DecodeError.reason is a short stable code (it is written to errors.jsonl):
  missing_file         the path does not exist, or is a dangling symlink (the detail names its
                       target)
  empty_file           the file has 0 bytes
  unreadable_file      the file exists but cannot be read (permissions, a folder, a symlink loop,
                       an I/O error)
  not_a_regular_file   a FIFO, a device, a socket, or a /proc-like file that says it has 0 bytes
                       (looked at with stat(), never opened: a FIFO would block)
  not_a_video          FFmpeg recognises no container format in it (text, HTML, random bytes)
  truncated            the file ends before its own data does: an MP4/MOV box or sample index
                       reaching past the end of the file, or an MP4/MOV without its moov index
  no_video_stream      a container with no video stream (e.g. audio only)
  unsupported_codec    no decoder for the video stream's codec
  decode_failed        the demuxer or decoder reported an error while reading the frames
  corrupt_frame        a sampled frame is itself damaged: flagged corrupt by the decoder, or FFmpeg
                       logged an error or concealment decoding it
  damaged_reference    a sampled frame is predicted from a frame FFmpeg reported damaged, with no
                       clean key frame between them: the damage spreads through prediction
                       (DecodeError.info: damaged_frame, its display index, -1 if it is shown
                       later; damaged_packet, its packet in decode order)
  no_frames            the video stream decodes to zero frames
  no_timestamps        the stated-rate rule needs frame times and the file has none
  unsupported_rotation display metadata other than a multiple of 90 degrees (with optional flip)
  crop_outside_frame   the crop box does not overlap the displayed frame
  range_past_end       the clip's window starts after the video's last frame (DecodeError.info
                       holds the window, the decoded frame count and the duration)

Truncated files are never a record, even when the frames a clip needs could be decoded: a file cut
short is a failed download, and a record from it would hide that. Container indexes make this
checkable up front (MP4/MOV, AVI); in formats without an index a cut file is caught when the
demuxer or decoder reports an error on the way to the clip's last frame.

Damaged frame data is never a record either. FFmpeg conceals most of it instead of failing (it
logs "error while decoding MB", "concealing N errors"), and the damage then spreads to every frame
predicted from the damaged one until the next key frame, sampled or not: see _Damage. Damage that
FFmpeg itself does not notice passes: H.264 carries no checksum, and a flipped bit inside its
entropy-coded data can decode as other valid data (no err_detect setting reports it either).
"""

from __future__ import annotations

import bisect
import copy
import dataclasses
import errno
import fractions
import io
import logging
import math
import os
import stat
import struct
import threading
from fractions import Fraction
from typing import Callable, Iterator

import av
import av.logging
import numpy as np
from av.video.reformatter import VideoReformatter

from preprocess.video import sampling
from schemas import fileio

log = logging.getLogger(__name__)

# swscale's area averaging: clean downscaling (the usual case: 240p..1080p to 150x150).
_INTERPOLATION = "AREA"


class DecodeError(Exception):
    """A video that yields no clip; `reason` is one of the codes in the module docstring."""

    def __init__(self, path: str, reason: str, detail: str, info: dict | None = None):
        super().__init__(f"{path}: {reason}: {detail}")
        self.path = path
        self.reason = reason
        self.detail = detail
        self.info = dict(info or {})  # numbers for errors.jsonl (range_past_end)

    def __reduce__(self):
        # Beam pickles exceptions across workers; the default would call __init__ with one arg.
        return (type(self), (self.path, self.reason, self.detail, self.info))


@dataclasses.dataclass(frozen=True)
class DecodedClip:
    frames: np.ndarray  # (num_frames, size, size, 3) uint8 RGB, upright as displayed
    frame_indices: tuple[int, ...]  # 0-based indices into the display-order decoded frames
    num_source_frames: int  # frames decoded from the video (decoding may stop after the clip)
    first: int = -1  # 0-based first and last decoded frame of the clip, after its rule
    last: int = -1
    clamped: bool = False  # the clip's window ran past the video's end and was cut there
    # The frames already encoded for the record (ClipSchema.encode_frames), when the decoding
    # process was asked to encode them; `frames` is then None.
    encoded: tuple[bytes, ...] | None = None


def check_args(num_frames: int, size: int, fps, crop) -> None:
    """ValueError for arguments that are wrong whatever the video (shared with decord_decoder)."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    if fps is not None and Fraction(fps) <= 0:
        raise ValueError(f"fps must be > 0 or None, got {fps}")
    if crop is not None:
        if len(crop) != 4 or not all(math.isfinite(v) for v in crop):
            raise ValueError(f"crop must be 4 finite numbers [x0, y0, x1, y1], got {crop}")
        if not (crop[0] < crop[2] and crop[1] < crop[3]):
            raise ValueError(f"crop must have x0 < x1 and y0 < y1, got {list(crop)}")


def open_binary(path: str) -> io.RawIOBase:
    """The file as a seekable binary file object, to use in a `with` block (schemas.fileio:
    gs:// through tf.io.gfile, so a local decode never pays TensorFlow's import)."""
    return fileio.open_file(path, "rb")


def check_file(path: str) -> int:
    """The file's size in bytes; DecodeError if it is not a regular file with bytes to read.

    Every decoder and training.predict call this first, so a file gets the same reason in a
    preprocess run and in predict. A local path is looked at with stat() and opened without
    blocking: opening a FIFO would wait for a writer forever (a decoding child's timeout).
    """
    if fileio.is_remote(path):
        try:
            if not fileio.exists(path):
                raise DecodeError(path, "missing_file", "no such file")
            if fileio.isdir(path):
                raise DecodeError(path, "unreadable_file", "is a folder")
            size = fileio.size(path)
        except fileio.error_types() as e:
            raise DecodeError(path, "unreadable_file", str(e)) from e
        if size == 0:
            raise DecodeError(path, "empty_file", "0 bytes")
        return size
    try:
        info = os.stat(path)
    except OSError as e:
        raise _stat_error(path, e) from e
    if stat.S_ISDIR(info.st_mode):
        raise DecodeError(path, "unreadable_file", "is a folder")
    if not stat.S_ISREG(info.st_mode):
        raise DecodeError(path, "not_a_regular_file", f"is {_file_kind(info.st_mode)}")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise _stat_error(path, e) from e
    try:
        info = os.fstat(fd)  # what was opened, should the path have changed since the stat
        if not stat.S_ISREG(info.st_mode):
            raise DecodeError(path, "not_a_regular_file", f"is {_file_kind(info.st_mode)}")
        if info.st_size == 0:
            # /proc and /sys files say 0 bytes and yet hold some: no video, and no size to trust.
            if os.read(fd, 1):
                raise DecodeError(
                    path, "not_a_regular_file", "says it has 0 bytes but has some (/proc or /sys?)"
                )
            raise DecodeError(path, "empty_file", "0 bytes")
    except OSError as e:
        raise DecodeError(path, "unreadable_file", f"cannot read it: {e.strerror or e}") from e
    finally:
        os.close(fd)
    return info.st_size


def _stat_error(path: str, error: OSError) -> DecodeError:
    if error.errno == errno.ELOOP:
        return DecodeError(path, "unreadable_file", "symlink loop")
    if error.errno in (errno.ENOENT, errno.ENOTDIR):
        if os.path.islink(path):
            return DecodeError(path, "missing_file", f"dangling symlink to {os.readlink(path)}")
        return DecodeError(path, "missing_file", "no such file")
    if error.errno in (errno.EACCES, errno.EPERM):
        return DecodeError(path, "unreadable_file", "permission denied")
    return DecodeError(path, "unreadable_file", error.strerror or str(error))


def _file_kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return f"not a regular file (mode {stat.S_IFMT(mode):o})"


# ---------------------------------------------------------------------------------------------
# ISO-BMFF (MP4/MOV) boxes: PyAV 18 does not expose the stream's display matrix (frames carry no
# DISPLAYMATRIX side data either), so it is read from the track header here, as FFmpeg's mov
# demuxer does. The same walk tells a cut-short MP4 (no moov, or a box past the end) from junk.

_CONTAINER_BOXES = {b"moov", b"trak", b"mdia", b"edts", b"minf", b"stbl"}
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


def _mp4_layout(f, file_size: int) -> str | None:
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
    if _mp4_layout(f, file_size) == "past_end":
        return "an MP4/MOV box reaches past the end of the file"
    return None


def _read_matrix(payload: bytes) -> list[int]:
    return list(struct.unpack(">9i", payload))


def _mp4_display_matrix(f, file_size: int, track_id: int) -> list[int] | None:
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


def _display_transform(matrix: list[int] | None) -> Callable[[np.ndarray], np.ndarray]:
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


# ---------------------------------------------------------------------------------------------


class _PtsCorrector:
    """libavcodec's guess_correct_pts(): the best_effort_timestamp ffmpeg's CLI uses as frame time.

    PyAV exposes only the raw pts, which AVI and other containers fill from dts, out of order.
    """

    def __init__(self):
        self.faulty_pts = self.faulty_dts = 0
        self.last_pts = self.last_dts = -(2**63)

    def __call__(self, pts: int | None, dts: int | None) -> int | None:
        if dts is not None:
            self.faulty_dts += dts <= self.last_dts
            self.last_dts = dts
        elif pts is not None:
            self.last_dts = pts
        if pts is not None:
            self.faulty_pts += pts <= self.last_pts
            self.last_pts = pts
        elif dts is not None:
            self.last_pts = dts
        if (self.faulty_pts <= self.faulty_dts or dts is None) and pts is not None:
            return pts
        return dts


class _Clock:
    """Display time of each frame in seconds from the first displayed frame, exact."""

    def __init__(self, time_base: Fraction, rate: Fraction | None):
        self.time_base = time_base
        self.rate = rate
        self.correct = _PtsCorrector()
        self.first: int | None = None
        self.prev: Fraction | None = None

    def __call__(self, frame: av.VideoFrame) -> Fraction | None:
        pts = self.correct(frame.pts, frame.dts)
        if pts is not None:
            if self.first is None:
                self.first = pts
            time = (pts - self.first) * self.time_base
        elif self.prev is None:
            time = Fraction(0)
        else:
            # As ffmpeg's CLI does for a frame without a timestamp: the previous one plus a frame.
            if frame.duration:
                step = frame.duration * self.time_base
            elif self.rate:
                step = 1 / self.rate
            else:
                return None
            time = self.prev + step
        self.prev = time
        return time


@dataclasses.dataclass
class _Source:
    path: str
    file_size: int
    transform: Callable[[np.ndarray], np.ndarray] = lambda a: a


def _open_container(source: _Source, f) -> av.container.InputContainer:
    past_end = declared_past_end(f, source.file_size)
    f.seek(0)
    if past_end:
        raise DecodeError(source.path, "truncated", past_end)
    try:
        container = av.open(f, mode="r")
    except av.error.FFmpegError as e:
        f.seek(0)
        if f.read(3) in _SWF_SIGNATURES:
            # FFmpeg's SWF demuxer finds streams only in SWFs that embed video (FLV1/VP6, as
            # aslpro's signs mostly do); a vector animation holds shapes, no video at all.
            raise DecodeError(
                source.path,
                "no_video_stream",
                "an SWF without embedded video (a vector animation): only SWFs holding FLV1/VP6 "
                f"video decode ({e})",
            ) from e
        f.seek(0)
        if isinstance(e, av.error.InvalidDataError):
            if _mp4_layout(f, source.file_size) == "no_moov":
                raise DecodeError(source.path, "truncated", "MP4/MOV without its moov index") from e
            raise DecodeError(source.path, "not_a_video", f"no known container format ({e})") from e
        raise DecodeError(source.path, "not_a_video", f"FFmpeg cannot open it ({e})") from e
    # PyAV turns on genpts, which invents packet pts (e.g. pts = dts + 1 in AVI) that ffmpeg's CLI
    # never sees; frame times would then differ from ffmpeg's. It only affects timestamps.
    container.flags = container.flags & ~av.container.Flags.gen_pts.value
    return container


_SWF_SIGNATURES = (b"FWS", b"CWS", b"ZWS")  # plain, zlib- and LZMA-compressed SWF


def _video_stream(source: _Source, container) -> av.video.stream.VideoStream:
    streams = [
        s
        for s in container.streams.video
        if not s.disposition & av.stream.Disposition.attached_pic  # cover art is no video
    ]
    if not streams:
        kinds = ", ".join(sorted({s.type for s in container.streams})) or "none"
        raise DecodeError(source.path, "no_video_stream", f"streams: {kinds}")
    stream = streams[0]
    if stream.codec_context is None:
        raise DecodeError(source.path, "unsupported_codec", "no decoder for the video stream")
    return stream


def _check_index(source: _Source, stream) -> None:
    """A sample index pointing past the end of the file means the file was cut short."""
    entries = stream.index_entries
    if entries is None or len(entries) == 0:
        return
    end = max((e.pos + e.size for e in entries if e.pos >= 0), default=0)
    if end > source.file_size:
        raise DecodeError(
            source.path,
            "truncated",
            f"the container's index reaches byte {end}, the file has {source.file_size}",
        )


# A stream may end a little before the duration its header declares (rounding, a longer audio
# track); half a second more is a file cut short (for formats with no size or index to check first).
_DURATION_SLACK = Fraction(1, 2)


def _check_duration(source: _Source, container, stream, last_time: Fraction) -> None:
    """At the end of the stream: did the video stop well before its declared duration?"""
    if stream.duration and stream.time_base:
        declared = stream.duration * Fraction(stream.time_base)
    elif container.duration:
        declared = Fraction(container.duration, av.time_base)
    else:
        return
    if last_time + _DURATION_SLACK < declared:
        raise DecodeError(
            source.path,
            "truncated",
            f"the video ends at {float(last_time):.3f} s, "
            f"its header declares {float(declared):.3f} s",
        )


def _convert(
    frame: av.VideoFrame,
    size: int,
    transform,
    crop: tuple[float, ...] | None,
    path: str,
    reformatter: VideoReformatter | None = None,
) -> np.ndarray:
    """One decoded frame -> (size, size, 3) uint8 RGB as displayed, squashed or cropped.

    `reformatter`: one per video. frame.reformat() builds a new swscale context for every frame,
    which cost 5-10x the scaling itself on small videos (BENCHMARKS.md); a shared one keeps it.
    """
    if crop is None:
        # Squash first, then turn: a plain squash to a square commutes with quarter turns.
        small = (reformatter or VideoReformatter()).reformat(
            frame, width=size, height=size, format="rgb24", interpolation=_INTERPOLATION
        )
        return np.ascontiguousarray(transform(small.to_ndarray()))
    return crop_resize(transform(frame.to_ndarray(format="rgb24")), size, crop, path)


def crop_resize(
    shown: np.ndarray, size: int, crop: tuple[float, ...] | None, path: str
) -> np.ndarray:
    """An (H, W, 3) uint8 RGB frame as displayed -> cropped (if asked), squashed to size x size."""
    if crop is None:
        box = av.VideoFrame.from_ndarray(np.ascontiguousarray(shown), format="rgb24")
        return box.reformat(width=size, height=size, interpolation=_INTERPOLATION).to_ndarray()
    h, w = shown.shape[:2]
    x0, y0 = max(0, math.floor(crop[0])), max(0, math.floor(crop[1]))
    x1, y1 = min(w, math.ceil(crop[2])), min(h, math.ceil(crop[3]))
    if x1 <= x0 or y1 <= y0:
        raise DecodeError(path, "crop_outside_frame", f"crop {list(crop)} on a {w}x{h} frame")
    box = av.VideoFrame.from_ndarray(np.ascontiguousarray(shown[y0:y1, x0:x1]), format="rgb24")
    return box.reformat(width=size, height=size, interpolation=_INTERPOLATION).to_ndarray()


def _prepare(source: _Source, container, stream, f, window: sampling.Window):
    """Reads the display transform; returns the container's guess of the clip's (first, last)."""
    if "mov" in container.format.name.split(","):
        # FFmpeg reads on from wherever `f` stands: put it back after looking at the header,
        # or the demuxer reads the wrong bytes (files larger than its first buffer break).
        position = f.tell()
        try:
            f.seek(0)
            matrix = _mp4_display_matrix(f, source.file_size, stream.id)
        finally:
            f.seek(position)
        try:
            source.transform = _display_transform(matrix)
        except ValueError as e:
            raise DecodeError(source.path, "unsupported_rotation", str(e)) from e
    total, rate = declared_frames(container, stream)
    return sampling.guess_range(window, total, rate)


def declared_frames(container, stream) -> tuple[int | None, Fraction | None]:
    """(frames, frame rate) as the container's header declares them, before any decoding; None
    where it does not say. Used to plan a decode and by the isolation's size limit, never as
    the truth (the decoded frames are: docs/design.md, "Sampling rule").

    Without a frame count in the header, duration × rate is the guess, rounded to the nearest
    frame in exact arithmetic: a duration is itself rounded to the container's time base, so
    rounding up (ceil) would turn 2.00001 s at 25 fps into 51 frames, and a clip at exactly
    --max_video_frames would be refused for a frame it does not have.
    """
    rate = stream.average_rate or stream.guessed_rate
    rate = Fraction(rate) if rate else None
    total = stream.frames or None
    if not total and container.duration and rate:
        total = round(Fraction(container.duration, av.time_base) * rate) or None
    return total, rate


@dataclasses.dataclass
class ClipRequest:
    """One clip wanted from a video: its window and output shape (decode_clip's arguments)."""

    window: sampling.Window
    num_frames: int = 20
    size: int = 150
    crop: tuple[float, float, float, float] | None = None


@dataclasses.dataclass
class _Job:
    """A clip's state during one decoding pass over its video."""

    request: ClipRequest
    tracker: sampling.RangeTracker | None  # pass 1 finds the range; pass 2 knows it
    wanted: set[int] = dataclasses.field(default_factory=set)
    stop_after: int | None = None
    kept: dict[int, np.ndarray] = dataclasses.field(default_factory=dict)
    error: DecodeError | None = None
    finished: bool = False


class _Redo(Exception):
    """FFmpeg reported damage while a pass decoded on several threads (see _decode_pass)."""


# One set of capture state for the process: PyAV has one log callback.
_LOG_LOCK = threading.Lock()
_LOG_STATE: dict = {"users": 0}


class _FFmpegLog:
    """FFmpeg's log lines while a pass decodes, through PyAV's av.logging (FFmpeg's own worker
    threads included, whose lines reach only a capture of all threads).

    FFmpeg logs the damage it conceals instead of failing on it ("error while decoding MB",
    "concealing N errors"); PyAV drops every line by default. A line from a worker thread cannot
    say which decoder it came from, so passes running at once in one process all see it: a
    damaged video can then fail another video's clips too, never pass its own.
    """

    def __enter__(self):
        with _LOG_LOCK:
            state = _LOG_STATE
            if state["users"] == 0:
                state["restore"] = (av.logging.get_level(), av.logging.get_skip_repeated())
                # PyAV holds back a repeated line and writes it out with the next, different one,
                # which may come in the next video's pass.
                av.logging.set_skip_repeated(False)
                av.logging.set_level(av.logging.INFO)  # "concealing N errors" is INFO
                state["capture"] = av.logging.Capture(local=False)
                state["lines"] = state["capture"].__enter__()
            state["users"] += 1
            self._shared = state["lines"]
            self._seen_shared = len(self._shared)
        # This thread's lines go to a capture of its own when it has one (the caller's, say).
        self._local_capture = av.logging.Capture(local=True)
        self._local = self._local_capture.__enter__()
        self._seen_local = 0
        return self

    def __exit__(self, *exc) -> None:
        self._local_capture.__exit__(*exc)
        with _LOG_LOCK:
            state = _LOG_STATE
            state["users"] -= 1
            if state["users"] == 0:
                state["capture"].__exit__(None, None, None)
                level, skip_repeated = state["restore"]
                av.logging.set_level(level)
                av.logging.set_skip_repeated(skip_repeated)

    def damage(self) -> list[str]:
        """The lines logged since the last call that report damage: errors, and concealment."""
        lines = []
        for kind in ("local", "shared"):
            logged, seen = getattr(self, f"_{kind}"), getattr(self, f"_seen_{kind}")
            end = len(logged)  # other threads may append meanwhile
            lines += logged[seen:end]
            setattr(self, f"_seen_{kind}", end)
        return [
            f"{name}: {message.strip()}" if name else message.strip()
            for level, name, message in lines
            if level <= av.logging.ERROR or "conceal" in message
        ]


class _Damage:
    """Which displayed frames FFmpeg's reports of damage reach.

    A report is a line FFmpeg logs at ERROR or above, or about concealing errors (logged at INFO,
    and alone when a slice merely ends early), or a frame the decoder flags corrupt. A damaged
    picture spreads to every picture predicted from it up to the next key frame, and those may
    be shown before it (the B-frames before their P) or long after it. So, in decode order: a
    frame decoded from packet q shows the damage reported for packets k..q, where k is the
    packet of the last clean key frame at or before q that is already shown (an open GOP's
    leading pictures are shown before their key frame and may refer to the GOP before it), or q
    itself for a key frame.

    Exact only on one decoding thread, where a packet's reports come while it is read or decoded
    and each frame carries its packet's number (copy_opaque). With threads a report raises _Redo.
    """

    def __init__(self, exact: bool, ffmpeg_log: _FFmpegLog):
        self.exact = exact
        self.ffmpeg_log = ffmpeg_log
        self.sent = 0  # packets given to the decoder
        self.bad: list[int] = []  # packets reported damaged, in decode order
        self.why: dict[int, str] = {}
        self.keys: list[int] = []  # packets of the clean key frames shown so far
        self.shown_at: dict[int, int] = {}  # packet -> display index of its frame

    def next_packet(self, packet) -> int:
        """The packet's decode-order number; what the demuxer reported reading it is its."""
        number = self.sent if packet.size else max(self.sent - 1, 0)  # size 0: the final flush
        if packet.size:
            self.sent += 1
            if self.exact:
                packet.opaque = number
        self.decoded(number)
        return number

    def decoded(self, number: int) -> None:
        for line in self.ffmpeg_log.damage():
            self._report(number, line)

    def _report(self, number: int, why: str) -> None:
        if not self.exact:
            raise _Redo
        if number not in self.why:
            self.why[number] = why
            bisect.insort(self.bad, number)

    def shown(self, frame, index: int) -> tuple[str, str, dict] | None:
        """The next displayed frame: None, or the (reason, detail, info) of its damage."""
        number = frame.opaque if self.exact else None
        if not isinstance(number, int):
            number = self.sent - 1  # no packet number: as late as it can be
        if frame.is_corrupt:
            self._report(number, "the decoder flagged the frame corrupt")
        if not self.exact:
            return None
        self.shown_at.setdefault(number, index)
        if frame.key_frame:  # decoded from itself alone
            since = number
        else:
            at = bisect.bisect_right(self.keys, number) - 1
            since = self.keys[at] if at >= 0 else 0
        first = bisect.bisect_left(self.bad, since)
        if first == len(self.bad) or self.bad[first] > number:
            if frame.key_frame:
                bisect.insort(self.keys, number)
            return None
        if number in self.why:
            return (
                "corrupt_frame",
                f"frame {index} is damaged ({self.why[number]})",
                {"damaged_frame": index},
            )
        bad = self.bad[first]
        shown = self.shown_at.get(bad)
        where = f"frame {shown}" if shown is not None else (
            f"a frame shown later (packet {bad} in decode order)")  # fmt: skip
        detail = (
            f"frame {index} is predicted from {where}, which FFmpeg reported damaged "
            f"({self.why[bad]}), with no clean key frame between them"
        )
        return (
            "damaged_reference",
            detail,
            {
                "damaged_frame": -1 if shown is None else shown,
                "damaged_packet": bad,
            },
        )


def _decode_pass(source: _Source, jobs: list[_Job], prepare=None, threads: int = 0) -> None:
    """Decodes the video once in display order, serving every job; fills `kept`, `error`.

    prepare: a function (container, stream, file) called once the file is open (pass 1 sets
    each job's `wanted` from the container's claims there). A job stops taking frames exactly
    where it would stop alone: when its tracker is done, or after frame `stop_after`; decoding
    stops when every job has. An error of the whole file is raised (it is every job's error);
    an error at a frame fails only the jobs still reading there, as each would fail alone.

    With decoding threads FFmpeg's reports of damage cannot be tied to the packet they concern
    (they come from worker threads, whenever those get to them), so the first report while a
    job still reads starts the pass again on one thread, where each report belongs to the packet
    being decoded (_Damage). Clean files, nearly all, are decoded once, on all threads.
    """
    exact = threads == 1
    if not exact:
        start = [copy.deepcopy(job) for job in jobs]
        try:
            _decode_once(source, jobs, prepare, threads, exact=False)
            return
        except _Redo:
            for job, fresh in zip(jobs, start):
                job.__dict__.update(copy.deepcopy(fresh).__dict__)
    _decode_once(source, jobs, prepare, 1, exact=True)


def _decode_once(source: _Source, jobs: list[_Job], prepare, threads: int, exact: bool) -> None:
    with open_binary(source.path) as f:
        container = _open_container(source, f)
        try:
            stream = _video_stream(source, container)
            _check_index(source, stream)
            if prepare is not None:
                prepare(container, stream, f)
            # Frame and slice threads give the same frames in the same order, only faster.
            stream.thread_type = "AUTO"
            stream.codec_context.thread_count = threads
            # Each frame carries the decode-order number of the packet it was decoded from.
            stream.codec_context.copy_opaque = exact
            # The reports of opening the file (its probe decodes frames) come again when those
            # frames are decoded here.
            with _FFmpegLog() as ffmpeg_log:
                try:
                    _serve_jobs(source, container, stream, jobs, _Damage(exact, ffmpeg_log))
                finally:
                    # Lets the frame threads finish their packets now, with the GIL free. Freeing
                    # the codec context (PyAV's dealloc, whenever the garbage collector gets to
                    # it) waits for them holding the GIL, and a thread that logs then, during any
                    # pass's capture, waits for the GIL: a deadlock.
                    stream.codec_context.flush_buffers()
        finally:
            container.close()


def _serve_jobs(source: _Source, container, stream, jobs: list[_Job], damage: _Damage) -> None:
    clock = _Clock(Fraction(stream.time_base), stream.average_rate)
    timed = any(job.tracker is not None for job in jobs)
    converters: dict[tuple, Callable[[av.VideoFrame], np.ndarray]] = {}
    active = [job for job in jobs if not job.finished and job.error is None]
    time = None
    index = 0
    try:
        for packet in container.demux(stream):
            number = damage.next_packet(packet)  # the demuxer's reports on reading it count
            if packet.is_corrupt:
                _fail(active, DecodeError(source.path, "decode_failed",
                                          f"corrupt packet after frame {index}"))  # fmt: skip
                return
            frames = stream.decode(packet)
            damage.decoded(number)
            for frame in frames:
                time = clock(frame) if timed else None
                damaged = damage.shown(frame, index)
                converted: dict[tuple, np.ndarray] = {}  # one conversion per output shape
                for job in active:
                    _take(source, job, frame, index, time, converted, converters, damaged)
                index += 1
                active = [job for job in active if not job.finished and job.error is None]
                if not active:
                    return
    except av.error.FFmpegError as e:
        _fail(active, DecodeError(source.path, "decode_failed", f"after {index} frames: {e}"))
        return
    if time is not None:
        for job in active:
            if job.tracker is not None:
                try:
                    _check_duration(source, container, stream, time)
                except DecodeError as e:
                    job.error = e


def _take(
    source, job: _Job, frame, index: int, time, converted: dict, converters: dict, damaged
) -> None:
    """Feeds one decoded frame to one job: its tracker, its kept frames, its stop condition.

    damaged: _Damage.shown's verdict on the frame (None when nothing it depends on was reported).
    """
    if job.tracker is not None:
        if job.tracker.window.timed and time is None:
            job.error = DecodeError(source.path, "no_timestamps", f"frame {index} has no time")
            return
        job.tracker.add(time)
    if index in job.wanted:
        if damaged is not None:
            job.error = DecodeError(source.path, *damaged)
            return
        request = job.request
        key = (request.size, request.crop)
        if key not in converted:
            if key not in converters:
                reformatter = VideoReformatter()  # one per output shape and video (see _convert)
                converters[key] = lambda fr, r=request, rf=reformatter: _convert(
                    fr, r.size, source.transform, r.crop, source.path, rf
                )
            converted[key] = converters[key](frame)
        job.kept[index] = converted[key]
    if (job.tracker is not None and job.tracker.done) or (
        job.stop_after is not None and index + 1 > job.stop_after
    ):
        job.finished = True


def _fail(jobs: list[_Job], error: DecodeError) -> None:
    for job in jobs:
        job.error = error


def decode_clips(
    path: str, requests: list[ClipRequest], threads: int = 0
) -> list[DecodedClip | DecodeError]:
    """Decodes several clips of one video in one pass over it: each gets exactly the frames it
    would get from decode_clip alone (decode_clip is this function with one request).

    Returns, per request, its DecodedClip or the DecodeError that it alone would raise. Memory
    holds num_frames small frames per clip, whatever the video's length.
    """
    for request in requests:
        check_args(request.num_frames, request.size, None, request.crop)
    if not isinstance(threads, int) or threads < 0:
        raise ValueError(f"threads must be an integer >= 0 (0: one per core), got {threads!r}")
    try:
        source = _Source(path, check_file(path))
        jobs = [_Job(r, sampling.RangeTracker(r.window)) for r in requests]

        # Pass 1 decodes up to the last clip's end (or the file's, for an open end), keeping only
        # the frames at the indices the container's frame count and rate predict. If a
        # prediction was wrong (variable rate, a count that lies), pass 2 decodes again up to
        # the last needed frame, now knowing exactly which ones.
        def prepare(container, stream, f):
            for job in jobs:
                guess = _prepare(source, container, stream, f, job.request.window)
                if guess:
                    job.wanted = set(sampling.sample_indices(*guess, job.request.num_frames))

        _decode_pass(source, jobs, prepare, threads)
        results: list = [_result(path, job) for job in jobs]
        again = {i: r for i, r in enumerate(results) if isinstance(r, tuple)}
        if again:
            log.debug("%s: frame range guesses were wrong for %d clips; decoding again", path,
                      len(again))  # fmt: skip
            second = {
                i: _Job(requests[i], None, set(indices), max(indices), jobs[i].kept)
                for i, (indices, _) in again.items()
            }
            _decode_pass(source, list(second.values()), None, threads)
            for i, job in second.items():
                results[i] = _second_result(path, job, *again[i])
        return results
    except DecodeError as e:  # the whole file: every clip's error
        return [e] * len(requests)
    except OSError as e:  # check_file passed, and then reading it failed (I/O error, a race)
        error = DecodeError(path, "unreadable_file", f"cannot read it: {e.strerror or e}")
        return [error] * len(requests)


def _result(path: str, job: _Job):
    """After pass 1: a DecodedClip, a DecodeError, or (indices, range) when frames are missing."""
    if job.error is not None:
        return job.error
    if job.tracker.count == 0:
        return DecodeError(path, "no_frames", "the video stream decodes to no frames")
    try:
        clip_range_ = clip_range(job.tracker, path)
    except DecodeError as e:
        return e
    indices = sampling.sample_indices(clip_range_.first, clip_range_.last, job.request.num_frames)
    if set(indices) - job.kept.keys():
        job.kept = {}
        return indices, (clip_range_, job.tracker.count)
    return _clip(job.kept, indices, clip_range_, job.tracker.count)


def _second_result(path: str, job: _Job, indices, found):
    clip_range_, count = found
    if job.error is not None:
        return job.error
    if set(indices) - job.kept.keys():
        return DecodeError(path, "decode_failed", "a second decode yielded fewer frames")
    return _clip(job.kept, indices, clip_range_, count)


def _clip(kept, indices, clip_range_: sampling.Range, count: int) -> DecodedClip:
    return DecodedClip(
        frames=np.stack([kept[i] for i in indices]),
        frame_indices=indices,
        num_source_frames=count,
        first=clip_range_.first,
        last=clip_range_.last,
        clamped=clip_range_.clamped,
    )


def clip_window(
    frame_start: int = 1,
    frame_end: int = -1,
    fps: fractions.Fraction | None = None,
    start_time: fractions.Fraction | None = None,
    end_time: fractions.Fraction | None = None,
) -> sampling.Window:
    """decode_clip's range arguments → a sampling.Window (shared with decord_decoder).

    A time window (start_time/end_time, in seconds) replaces frame numbers: giving both kinds
    is a ValueError, since one of them would silently lose.
    """
    sampling.check_frame_range(frame_start, frame_end)
    if start_time is None and end_time is not None:
        raise ValueError(f"end_time={end_time} needs a start_time")
    if start_time is not None:
        if fps is not None or (frame_start, frame_end) != (1, -1):
            raise ValueError(
                "give either frame numbers (frame_start/frame_end/fps) or a time window "
                f"(start_time/end_time), not both: got frames {frame_start}..{frame_end} at "
                f"fps={fps} and [{start_time}, {end_time})"
            )
        return sampling.Window.by_time(Fraction(start_time), end_time)
    if fps is not None:
        return sampling.Window.by_stated_rate(frame_start, frame_end, Fraction(fps))
    return sampling.Window.by_frames(frame_start, frame_end)


def clip_range(tracker: sampling.RangeTracker, path: str) -> sampling.Range:
    """The tracker's result; a window past the video's end becomes DecodeError range_past_end."""
    try:
        return tracker.result()
    except sampling.RangePastEnd as e:
        raise DecodeError(path, "range_past_end", str(e), e.info) from None


def decode_clip(
    path: str,
    *,
    num_frames: int = 20,
    size: int = 150,
    frame_start: int = 1,
    frame_end: int = -1,
    fps: fractions.Fraction | None = None,
    crop: tuple[float, float, float, float] | None = None,
    threads: int = 0,
    start_time: fractions.Fraction | None = None,
    end_time: fractions.Fraction | None = None,
) -> DecodedClip:
    """Decodes one clip of a video by the sampling rule of docs/design.md.

    fps None: frame numbers count the file's own frames; else they count frames at rate `fps`
    (WLASL's 25) and select by display time. start_time/end_time: a window in seconds (MS-ASL)
    instead of frame numbers, also by display time. crop: [x0, y0, x1, y1] in displayed-frame
    pixels, applied before resizing; without it frames are squashed to size x size. threads:
    FFmpeg's decoding threads, 0 = one per core; the pipeline gives each of N workers cores / N,
    since workers that each start a thread per core only fight over the cores (BENCHMARKS.md).
    Raises DecodeError (with a reason code) for a video that yields no clip, ValueError for
    arguments that are wrong whatever the video.
    """
    window = clip_window(frame_start, frame_end, fps, start_time, end_time)
    check_args(num_frames, size, fps, crop)
    (result,) = decode_clips(path, [ClipRequest(window, num_frames, size, crop)], threads)
    if isinstance(result, DecodeError):
        raise result
    return result
