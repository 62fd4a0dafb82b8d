"""The file as FFmpeg opens it: its container and video stream, the checks on them that tell a
cut-short file from junk, what its header declares, and each frame's display time.

Every DecodeError here is the whole file's: every clip of the video gets it.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Callable

import av
import numpy as np

from preprocess.video import sampling
from preprocess.video.containers import (
    declared_past_end,
    display_transform,
    mp4_display_matrix,
    mp4_layout,
)
from preprocess.video.messages import DecodeError
from schemas import reasons


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


class Clock:
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
class Source:
    path: str
    file_size: int
    transform: Callable[[np.ndarray], np.ndarray] = lambda a: a


def open_container(source: Source, f) -> av.container.InputContainer:
    past_end = declared_past_end(f, source.file_size)
    f.seek(0)
    if past_end:
        raise DecodeError(source.path, reasons.TRUNCATED, past_end)
    try:
        container = av.open(f, mode="r")
    except av.error.FFmpegError as e:
        f.seek(0)
        if f.read(3) in _SWF_SIGNATURES:
            # FFmpeg's SWF demuxer finds streams only in SWFs that embed video (FLV1/VP6, as
            # aslpro's signs mostly do); a vector animation holds shapes, no video at all.
            raise DecodeError(
                source.path,
                reasons.NO_VIDEO_STREAM,
                "an SWF without embedded video (a vector animation): only SWFs holding FLV1/VP6 "
                f"video decode ({e})",
            ) from e
        f.seek(0)
        if isinstance(e, av.error.InvalidDataError):
            if mp4_layout(f, source.file_size) == "no_moov":
                raise DecodeError(
                    source.path, reasons.TRUNCATED, "MP4/MOV without its moov index"
                ) from e
            raise DecodeError(
                source.path, reasons.NOT_A_VIDEO, f"no known container format ({e})"
            ) from e
        raise DecodeError(source.path, reasons.NOT_A_VIDEO, f"FFmpeg cannot open it ({e})") from e
    # PyAV turns on genpts, which invents packet pts (e.g. pts = dts + 1 in AVI) that ffmpeg's CLI
    # never sees; frame times would then differ from ffmpeg's. It only affects timestamps.
    container.flags = container.flags & ~av.container.Flags.gen_pts.value
    return container


_SWF_SIGNATURES = (b"FWS", b"CWS", b"ZWS")  # plain, zlib- and LZMA-compressed SWF


def video_stream(source: Source, container) -> av.video.stream.VideoStream:
    streams = [
        s
        for s in container.streams.video
        if not s.disposition & av.stream.Disposition.attached_pic  # cover art is no video
    ]
    if not streams:
        kinds = ", ".join(sorted({s.type for s in container.streams})) or "none"
        raise DecodeError(source.path, reasons.NO_VIDEO_STREAM, f"streams: {kinds}")
    stream = streams[0]
    if stream.codec_context is None:
        raise DecodeError(source.path, reasons.UNSUPPORTED_CODEC, "no decoder for the video stream")
    return stream


def check_index(source: Source, stream) -> None:
    """A sample index pointing past the end of the file means the file was cut short."""
    entries = stream.index_entries
    if entries is None or len(entries) == 0:
        return
    end = max((e.pos + e.size for e in entries if e.pos >= 0), default=0)
    if end > source.file_size:
        raise DecodeError(
            source.path,
            reasons.TRUNCATED,
            f"the container's index reaches byte {end}, the file has {source.file_size}",
        )


# A stream may end a little before the duration its header declares (rounding, a longer audio
# track); half a second more is a file cut short (for formats with no size or index to check first).
_DURATION_SLACK = Fraction(1, 2)


def check_duration(source: Source, container, stream, last_time: Fraction) -> None:
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
            reasons.TRUNCATED,
            f"the video ends at {float(last_time):.3f} s, "
            f"its header declares {float(declared):.3f} s",
        )


def read_header(source: Source, container, stream, f, window: sampling.Window):
    """Reads the display transform; returns the container's guess of the clip's (first, last)."""
    if "mov" in container.format.name.split(","):
        # FFmpeg reads on from wherever `f` stands: put it back after looking at the header,
        # or the demuxer reads the wrong bytes (files larger than its first buffer break).
        position = f.tell()
        try:
            f.seek(0)
            matrix = mp4_display_matrix(f, source.file_size, stream.id)
        finally:
            f.seek(position)
        try:
            source.transform = display_transform(matrix)
        except ValueError as e:
            raise DecodeError(source.path, reasons.UNSUPPORTED_ROTATION, str(e)) from e
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
