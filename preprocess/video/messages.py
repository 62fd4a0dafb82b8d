"""What a decoder is asked and what it answers: the values that cross the decoding process's pipe
as they are (pickled), so they import nothing heavier than numpy and sampling.

A clip's request is built once, where the clip and the job's settings meet (the pipeline), and
its window (which frames the clip is) is computed there, once: the decoding process decodes by
it and the record says it.
"""

from __future__ import annotations

import dataclasses
import fractions
import math
from fractions import Fraction
from typing import Any

import numpy as np

from preprocess.video import sampling
from schemas import features


class DecodeError(Exception):
    """A video that yields no clip; `reason` is one of schemas.reasons."""

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


# The clip shape a decode_clip call gets when it names none: the record contract's default.
NUM_FRAMES = features.NUM_FRAMES
SIZE = features.SIZE


def clip_window(
    frame_start: int = 1,
    frame_end: int = -1,
    fps: fractions.Fraction | None = None,
    start_time: fractions.Fraction | None = None,
    end_time: fractions.Fraction | None = None,
) -> sampling.Window:
    """decode_clip's range arguments → a sampling.Window (shared by both decoders and the job).

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


def window_arguments(window: sampling.Window) -> dict:
    """The range arguments clip_window turns into `window` (exact: the window keeps Fractions),
    for decoders that take decode_clip's keyword arguments."""
    if not window.timed:
        return {"frame_start": window.frame_start, "frame_end": window.frame_end}
    if window.frame_interval is None:
        return {"start_time": window.start, "end_time": window.end}
    fps = 1 / window.frame_interval
    frame_end = -1 if window.end is None else int(window.end * fps)
    return {"frame_start": int(window.start * fps) + 1, "frame_end": frame_end, "fps": fps}


@dataclasses.dataclass(frozen=True)
class ClipRequest:
    """One clip wanted from a video: its window and output shape (decode_clip's arguments)."""

    window: sampling.Window
    num_frames: int = NUM_FRAMES
    size: int = SIZE
    crop: tuple[float, float, float, float] | None = None

    def arguments(self) -> dict:
        """decode_clip's keyword arguments for this clip (decoders plugged in by name take them)."""
        return dict(
            num_frames=self.num_frames,
            size=self.size,
            crop=self.crop,
            **window_arguments(self.window),
        )


@dataclasses.dataclass(frozen=True)
class VideoRequest:
    """What the job sends the decoding process: the clips of one video, decoded in one pass."""

    path: str
    clips: tuple[ClipRequest, ...]
    threads: int = 0  # FFmpeg's decoding threads, 0 = one per core
    # A schemas.features.ClipSchema whose encodes_without_tensorflow holds: the process then
    # encodes the frames itself (DecodedClip.encoded), a tenth of the bytes back through the pipe.
    encode_with: Any = None


@dataclasses.dataclass(frozen=True)
class ClipReply:
    """What the decoding process answers for one clip: its frames, or why it has none."""

    decoded: DecodedClip | None = None
    error: DecodeError | None = None
