"""Which decoded frames a clip takes: the sampling rule of docs/design.md, as pure functions."""

from __future__ import annotations

import dataclasses
import re
from fractions import Fraction
from typing import Sequence

import numpy as np

MAX_FPS = 1000  # a stated frame rate above this is a typo, not a video
# Plain decimals or a ratio: Fraction() alone would also take '1e9', '-25' or '٢٥'.
_RATE_RE = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,9})?\Z|[0-9]{1,9}/[0-9]{1,9}\Z")


def parse_rate(text: str) -> Fraction | None:
    """A stated frame rate, written as a CSV manifest's `fps` cell or predict's --fps: '' → None;
    '25', '29.97', '30000/1001' → an exact Fraction in (0, MAX_FPS]. ValueError says what was
    expected (the caller names the file, row or flag)."""
    text = text.strip()
    if not text:
        return None
    if not _RATE_RE.match(text):
        raise ValueError("a frame rate like 25, 29.97 or 30000/1001")
    if "/" in text and int(text.split("/")[1]) == 0:
        raise ValueError("a frame rate with a non-zero denominator")
    rate = Fraction(text)
    if not 0 < rate <= MAX_FPS:
        raise ValueError(f"a frame rate in (0, {MAX_FPS}]")
    return rate


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


class RangePastEnd(ValueError):
    """The clip's window starts after the video's last frame: no frame belongs to it.

    `info` holds the numbers for errors.jsonl (the window, the decoded frame count, the duration).
    """

    def __init__(self, message: str, info: dict):
        super().__init__(message)
        self.info = info


@dataclasses.dataclass(frozen=True)
class Window:
    """Which part of a video a clip is: frame numbers of the file, or a display-time window.

    Build it with `by_frames`, `by_stated_rate` or `by_time`; docs/design.md ("Sampling rule")
    says which rule applies to which manifest.
    """

    frame_start: int = 1  # the frame rule: 1-based, inclusive; frame_end -1 = to the end
    frame_end: int = -1
    start: Fraction | None = None  # the time rule when set: [start, end) seconds, end None = open
    end: Fraction | None = None
    # A stated rate's frame interval (1/fps): how long a video of one decoded frame lasts, which
    # its frame times cannot say; None for a window in seconds.
    frame_interval: Fraction | None = None

    @classmethod
    def by_frames(cls, frame_start: int = 1, frame_end: int = -1) -> "Window":
        check_frame_range(frame_start, frame_end)
        return cls(frame_start=frame_start, frame_end=frame_end)

    @classmethod
    def by_stated_rate(cls, frame_start: int, frame_end: int, fps: Fraction) -> "Window":
        start, end = time_window(frame_start, frame_end, fps)
        return dataclasses.replace(cls.by_time(start, end), frame_interval=1 / Fraction(fps))

    @classmethod
    def by_time(cls, start: Fraction, end: Fraction | None) -> "Window":
        start = Fraction(start)
        end = None if end is None else Fraction(end)
        if start < 0:
            raise ValueError(f"a time window must start at >= 0 s, got {start}")
        if end is not None and end <= start:
            raise ValueError(f"a time window must end after it starts, got [{start}, {end})")
        return cls(start=start, end=end)

    @property
    def timed(self) -> bool:
        return self.start is not None

    def describe(self) -> str:
        if self.timed:
            end = "end" if self.end is None else f"{float(self.end):.4g} s"
            return f"[{float(self.start):.4g} s, {end})"
        end = "end" if self.frame_end == -1 else self.frame_end
        return f"frames {self.frame_start}..{end}"


@dataclasses.dataclass(frozen=True)
class Range:
    """0-based first/last decoded frame of a clip; clamped: its window ran past the video's end."""

    first: int
    last: int
    clamped: bool = False


def range_by_index(window: Window, total: int) -> Range:
    """The "frames of the file" rule: (first, last) clamped to [0, total - 1]; RangePastEnd if
    frame_start is beyond the last frame."""
    if total < 1:
        raise ValueError(f"a clip needs at least one decoded frame, got total={total}")
    if window.frame_start > total:
        raise RangePastEnd(
            f"{window.describe()} starts after the video's last frame ({total} frames decoded)",
            {"frame_start": window.frame_start, "frame_end": window.frame_end,
             "num_decoded_frames": total},
        )  # fmt: skip
    last = total - 1 if window.frame_end == -1 else window.frame_end - 1
    return Range(window.frame_start - 1, min(last, total - 1), clamped=last > total - 1)


def range_by_time(window: Window, times: Sequence[Fraction]) -> Range:
    """The time rule: first/last are the first/last frames whose display time lies in [start,
    end); if none does (a window shorter than a frame interval), both are the last frame that
    starts before the window ends. RangePastEnd if the window starts after the last frame.

    times: display time of each decoded frame in display order, in seconds from the first
    displayed frame. They may stop early (at the first frame at or past the window's end).
    """
    if not times:
        raise ValueError("a clip needs at least one decoded frame, got no frame times")
    start, end = window.start, window.end
    if start > times[-1]:
        duration = _duration(times)
        raise RangePastEnd(
            f"the window {window.describe()} starts after the video's last frame "
            f"({len(times)} frames decoded, {float(duration):.4g} s)",
            {"window_start_s": float(start), "window_end_s": None if end is None else float(end),
             "num_decoded_frames": len(times), "duration_s": float(duration)},
        )  # fmt: skip
    inside = [i for i, t in enumerate(times) if t >= start and (end is None or t < end)]
    if inside:
        first, last = inside[0], inside[-1]
    else:
        # The first displayed frame is at time 0 and end > start >= 0: some frame starts before.
        first = last = max(i for i, t in enumerate(times) if end is None or t < end)
    clamped = end is not None and times[-1] < end and end > _duration(times, window.frame_interval)
    return Range(first, last, clamped)


def _duration(times: Sequence[Fraction], single_frame_interval: Fraction | None = None) -> Fraction:
    """The video's end: last frame's time plus one frame interval (the last one seen; with one
    frame, none is seen: the stated rate's, if the window has one, else 0)."""
    if len(times) > 1:
        step = times[-1] - times[-2]
    else:
        step = single_frame_interval or Fraction(0)
    return times[-1] + step


def frame_range_by_index(frame_start: int, frame_end: int, total: int) -> tuple[int, int]:
    """`range_by_index` for frame numbers, as a (first, last) pair."""
    r = range_by_index(Window.by_frames(frame_start, frame_end), total)
    return r.first, r.last


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
    """`range_by_time` for frame numbers counted at `fps`, as a (first, last) pair."""
    r = range_by_time(Window.by_stated_rate(frame_start, frame_end, fps), times)
    return r.first, r.last


class RangeTracker:
    """Follows frames as they are decoded, in display order, to find a clip's Range.

    It says when decoding can stop: once no later frame can change the result. For the time rule
    that is the first frame at or past the window's end, which assumes display times do not
    decrease (decoders output frames in presentation order, so they do not in valid files).
    """

    def __init__(self, window: Window):
        self.window = window
        self.times: list[Fraction] = []
        self.count = 0
        self.done = False

    def add(self, time: Fraction | None = None) -> None:
        """Records the next displayed frame (its time is needed only for the time rule)."""
        window = self.window
        if window.timed:
            if time is None:
                raise ValueError("the time rule needs each frame's time")
            self.times.append(time)
            self.done = window.end is not None and time >= window.end
        else:
            self.done = window.frame_end != -1 and self.count + 1 >= window.frame_end
        self.count += 1

    def result(self) -> Range:
        """The clip's Range, valid once `done` or after the last frame of the video."""
        if self.window.timed:
            return range_by_time(self.window, self.times)
        return range_by_index(self.window, self.count)


def guess_range(
    window: Window, total_guess: int | None, rate_guess: Fraction | None
) -> tuple[int, int] | None:
    """A guess of (first, last) from the container's claims, before decoding; None if unguessable.

    Only used to choose which frames to keep while decoding; a wrong guess costs a second pass,
    never a wrong frame.
    """
    if not window.timed:
        if window.frame_end == -1 and not total_guess:
            return None
        total = total_guess or window.frame_end
        last = total - 1 if window.frame_end == -1 else window.frame_end - 1
        last = min(last, total - 1)
        return min(window.frame_start - 1, last), last
    if not rate_guess or rate_guess <= 0:
        return None
    rate = Fraction(rate_guess)
    first = -(-window.start * rate // 1)  # ceil: first frame at or after start
    if window.end is None:
        if not total_guess:
            return None
        last = total_guess - 1
    else:
        last = -(-window.end * rate // 1) - 1  # last frame before end
    if total_guess:
        last = min(last, total_guess - 1)
    last = max(last, 0)
    first = min(int(first), last)
    return first, int(last)
