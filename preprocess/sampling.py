"""Which decoded frames a clip takes: the sampling rule of DESIGN.md, as pure functions."""

from __future__ import annotations

from fractions import Fraction
from typing import Sequence

import numpy as np


def sample_indices(first: int, last: int, num_frames: int) -> tuple[int, ...]:
    """round(linspace(first, last, num_frames)) with numpy's rounding (halves go to even).

    Indices repeat when the range holds fewer frames than num_frames.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if not 0 <= first <= last:
        raise ValueError(f"need 0 <= first <= last, got first={first}, last={last}")
    return tuple(int(i) for i in np.round(np.linspace(first, last, num_frames)))


def check_frame_range(frame_start: int, frame_end: int) -> None:
    """Raises ValueError unless (frame_start, frame_end) is a valid 1-based inclusive range."""
    if frame_start < 1:
        raise ValueError(f"frame_start must be >= 1 (1-based), got {frame_start}")
    if frame_end != -1 and frame_end < frame_start:
        raise ValueError(
            f"frame_end must be -1 (to the end) or >= frame_start={frame_start}, got {frame_end}"
        )


def frame_range_by_index(frame_start: int, frame_end: int, total: int) -> tuple[int, int]:
    """The "frames of the file" rule: 0-based (first, last), both clamped to [0, total - 1]."""
    check_frame_range(frame_start, frame_end)
    if total < 1:
        raise ValueError(f"a clip needs at least one decoded frame, got total={total}")
    last = total - 1 if frame_end == -1 else frame_end - 1
    return min(frame_start - 1, total - 1), min(last, total - 1)


def time_window(
    frame_start: int, frame_end: int, fps: Fraction
) -> tuple[Fraction, Fraction | None]:
    """[start, end) in seconds for frames counted at `fps`; end None means no upper bound."""
    check_frame_range(frame_start, frame_end)
    fps = Fraction(fps)
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    return Fraction(frame_start - 1) / fps, None if frame_end == -1 else Fraction(frame_end) / fps


def frame_range_by_time(
    times: Sequence[Fraction], frame_start: int, frame_end: int, fps: Fraction
) -> tuple[int, int]:
    """The "frames counted at a stated rate" rule.

    times: display time of each decoded frame in display order, in seconds from the first displayed
    frame. first/last are the first/last frames whose time lies in [(frame_start-1)/fps,
    frame_end/fps); if none does, both are the last frame that starts before the window ends.
    """
    if not times:
        raise ValueError("a clip needs at least one decoded frame, got no frame times")
    start, end = time_window(frame_start, frame_end, fps)
    inside = [i for i, t in enumerate(times) if t >= start and (end is None or t < end)]
    if inside:
        return inside[0], inside[-1]
    before_end = [i for i, t in enumerate(times) if end is None or t < end]
    # The first displayed frame is at time 0 and end > 0, so some frame always starts before it.
    last = before_end[-1] if before_end else 0
    return last, last


class RangeTracker:
    """Follows frames as they are decoded, in display order, to find a clip's (first, last).

    It says when decoding can stop: once no later frame can change the result. For the time rule
    that is the first frame at or past the window's end, which assumes display times do not
    decrease (decoders output frames in presentation order, so they do not in valid files).
    """

    def __init__(self, frame_start: int, frame_end: int, fps: Fraction | None = None):
        check_frame_range(frame_start, frame_end)
        self.frame_start = frame_start
        self.frame_end = frame_end
        self.fps = None if fps is None else Fraction(fps)
        self._end = None if fps is None else time_window(frame_start, frame_end, self.fps)[1]
        self.times: list[Fraction] = []
        self.count = 0
        self.done = False

    def add(self, time: Fraction | None = None) -> None:
        """Records the next displayed frame (its time is needed only for the time rule)."""
        if self.fps is not None:
            if time is None:
                raise ValueError("the stated-rate rule needs each frame's time")
            self.times.append(time)
            self.done = self._end is not None and time >= self._end
        else:
            self.done = self.frame_end != -1 and self.count + 1 >= self.frame_end
        self.count += 1

    def result(self) -> tuple[int, int]:
        """(first, last), valid once `done` or after the last frame of the video."""
        if self.fps is None:
            return frame_range_by_index(self.frame_start, self.frame_end, self.count)
        return frame_range_by_time(self.times, self.frame_start, self.frame_end, self.fps)


def guess_range(
    frame_start: int,
    frame_end: int,
    fps: Fraction | None,
    total_guess: int | None,
    rate_guess: Fraction | None,
) -> tuple[int, int] | None:
    """A guess of (first, last) from the container's claims, before decoding; None if unguessable.

    Only used to choose which frames to keep while decoding; a wrong guess costs a second pass,
    never a wrong frame.
    """
    if fps is None:
        if frame_end == -1 and not total_guess:
            return None
        return frame_range_by_index(frame_start, frame_end, total_guess or frame_end)
    if not rate_guess or rate_guess <= 0:
        return None
    start, end = time_window(frame_start, frame_end, fps)
    rate = Fraction(rate_guess)
    first = -(-start * rate // 1)  # ceil: first frame at or after start
    if end is None:
        if not total_guess:
            return None
        last = total_guess - 1
    else:
        last = -(-end * rate // 1) - 1  # last frame before end
    if total_guess:
        last = min(last, total_guess - 1)
    last = max(last, 0)
    first = min(int(first), last)
    return first, int(last)
