"""The sampling rule of docs/design.md, checked on hand-worked cases and properties."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from preprocess.video import sampling


def test_sample_indices_spreads_evenly_over_the_range():
    assert sampling.sample_indices(0, 38, 20) == tuple(range(0, 39, 2))
    assert sampling.sample_indices(10, 10, 3) == (10, 10, 10)
    assert sampling.sample_indices(5, 9, 1) == (5,)


def test_sample_indices_rounds_halves_to_even_like_numpy():
    # linspace(0, 3, 3) = [0, 1.5, 3] and linspace(0, 5, 3) = [0, 2.5, 5]: halves go to even.
    assert sampling.sample_indices(0, 3, 3) == (0, 2, 3)
    assert sampling.sample_indices(0, 5, 3) == (0, 2, 5)


def test_short_ranges_repeat_indices():
    indices = sampling.sample_indices(0, 6, 20)
    assert len(indices) == 20 and set(indices) == set(range(7))
    assert list(indices) == sorted(indices)


@pytest.mark.parametrize("args", [(0, 5, 0), (3, 2, 20), (-1, 4, 20)])
def test_sample_indices_refuses_bad_arguments(args):
    with pytest.raises(ValueError):
        sampling.sample_indices(*args)


def test_frame_range_by_index_is_one_based_inclusive_and_clamped():
    assert sampling.frame_range_by_index(1, -1, 45) == (0, 44)
    assert sampling.frame_range_by_index(5, 30, 45) == (4, 29)
    assert sampling.frame_range_by_index(40, 100, 45) == (39, 44)
    assert sampling.frame_range_by_index(45, 100, 45) == (44, 44)
    assert sampling.frame_range_by_index(1, -1, 1) == (0, 0)


def test_frame_range_says_when_it_was_clamped():
    window = sampling.Window.by_frames
    assert sampling.range_by_index(window(40, 100), 45) == sampling.Range(39, 44, clamped=True)
    assert sampling.range_by_index(window(40, 45), 45) == sampling.Range(39, 44, clamped=False)
    assert sampling.range_by_index(window(40, -1), 45) == sampling.Range(39, 44, clamped=False)


def test_frame_range_past_the_end_is_an_error_with_the_numbers():
    with pytest.raises(sampling.RangePastEnd, match="46..200 starts after") as e:
        sampling.range_by_index(sampling.Window.by_frames(46, 200), 45)
    assert e.value.info == {"frame_start": 46, "frame_end": 200, "num_decoded_frames": 45}


@pytest.mark.parametrize(
    "start,end,match", [(0, 5, "frame_start"), (5, 4, "frame_end"), (3, -2, "frame_end")]
)
def test_frame_range_refuses_bad_ranges(start, end, match):
    with pytest.raises(ValueError, match=match):
        sampling.frame_range_by_index(start, end, 10)


def test_frame_range_by_index_needs_a_frame():
    with pytest.raises(ValueError, match="total=0"):
        sampling.frame_range_by_index(1, -1, 0)


def _times(n, rate):
    return [Fraction(i) / Fraction(rate) for i in range(n)]


def test_time_rule_on_a_30fps_file_with_25fps_frame_numbers():
    times = _times(60, 30)
    # frames 6..10 at 25 fps are [0.2 s, 0.4 s): 30-fps frames 6 (exactly 0.2) to 11 (0.3667).
    assert sampling.frame_range_by_time(times, 6, 10, Fraction(25)) == (6, 11)
    assert sampling.frame_range_by_time(times, 1, 25, Fraction(25)) == (0, 29)
    assert sampling.frame_range_by_time(times, 26, -1, Fraction(25)) == (30, 59)


def test_time_rule_on_a_2997fps_file():
    times = _times(60, Fraction(30000, 1001))
    # [0.2, 0.4): frame 6 is at 0.2002 s, frame 12 at 0.4004 s.
    assert sampling.frame_range_by_time(times, 6, 10, Fraction(25)) == (6, 11)
    # [1.0, 2.0): frame 29 is at 0.9676 s, frame 30 at 1.001 s, frame 59 at 1.9686 s.
    assert sampling.frame_range_by_time(times, 26, 50, Fraction(25)) == (30, 59)


def test_time_rule_window_with_no_frame_takes_the_last_frame_before_its_end():
    times = _times(3, 1)  # a 1-fps video: frames at 0, 1, 2 s
    assert sampling.frame_range_by_time(times, 2, 2, Fraction(25)) == (0, 0)  # [0.04, 0.08)
    assert sampling.frame_range_by_time(times, 30, 40, Fraction(25)) == (1, 1)  # [1.16, 1.6)
    assert sampling.frame_range_by_time(times, 51, -1, Fraction(25)) == (2, 2)  # starts at 2 s


def test_time_window_past_the_end_is_an_error_with_the_numbers():
    times = _times(3, 1)  # frames at 0, 1, 2 s: the video lasts 3 s
    with pytest.raises(sampling.RangePastEnd, match="starts after the video's last frame") as e:
        sampling.frame_range_by_time(times, 52, -1, Fraction(25))  # [2.04 s, end)
    assert e.value.info == {
        "window_start_s": 2.04, "window_end_s": None, "num_decoded_frames": 3, "duration_s": 3.0,
    }  # fmt: skip
    with pytest.raises(sampling.RangePastEnd):
        sampling.range_by_time(sampling.Window.by_time(Fraction(5, 2), Fraction(4)), times)


def test_time_window_running_past_the_end_is_clamped_and_says_so():
    times = _times(30, 30)  # 1 s of video
    by_time = sampling.Window.by_time
    assert sampling.range_by_time(by_time(Fraction(1, 2), Fraction(2)), times) == sampling.Range(
        15, 29, clamped=True
    )
    # A window that ends exactly where the video ends lost nothing.
    assert sampling.range_by_time(by_time(Fraction(1, 2), Fraction(1)), times).clamped is False
    assert sampling.range_by_time(by_time(Fraction(1, 2), None), times).clamped is False
    # MS-ASL style seconds: [0.1, 0.3) on a 30-fps file is frames 3..8.
    assert sampling.range_by_time(by_time(Fraction(1, 10), Fraction(3, 10)), times) == (
        sampling.Range(3, 8, clamped=False)
    )


@given(
    total=st.integers(1, 300),
    start=st.integers(1, 320),
    length=st.one_of(st.just(None), st.integers(0, 320)),
)
# A one-frame video: its frame times give no interval, so the stated rate's says where it ends.
@example(total=1, start=1, length=0)
@example(total=1, start=1, length=1)
def test_time_rule_equals_index_rule_on_a_constant_25fps_file(total, start, length):
    end = -1 if length is None else start + length
    times = _times(total, 25)
    by_time = _outcome(
        sampling.range_by_time, sampling.Window.by_stated_rate(start, end, Fraction(25)), times
    )
    by_index = _outcome(sampling.range_by_index, sampling.Window.by_frames(start, end), total)
    assert by_time == by_index


def _outcome(rule, *args):
    try:
        return rule(*args)
    except sampling.RangePastEnd:
        return "past end"


@given(
    times_ms=st.lists(st.integers(1, 100), min_size=1, max_size=60),
    start=st.integers(1, 80),
    length=st.one_of(st.just(None), st.integers(0, 80)),
)
def test_range_tracker_stops_without_changing_the_result(times_ms, start, length):
    end = -1 if length is None else start + length
    times = [Fraction(0)] + [Fraction(t, 1000) for t in np.cumsum(times_ms).tolist()]
    for window in (
        sampling.Window.by_frames(start, end),
        sampling.Window.by_stated_rate(start, end, Fraction(25)),
    ):
        tracker = sampling.RangeTracker(window)
        for t in times:
            tracker.add(t)
            if tracker.done:
                break
        full = (
            _outcome(sampling.range_by_time, window, times)
            if window.timed
            else _outcome(sampling.range_by_index, window, len(times))
        )
        assert _outcome(tracker.result) == full
        fps = Fraction(25) if window.timed else None
        if fps is None and end != -1 and end <= len(times):
            assert tracker.count == end  # stops right at the clip's last frame


def test_guess_range_uses_the_containers_claims():
    window = sampling.Window
    assert sampling.guess_range(window.by_frames(), 75, Fraction(30)) == (0, 74)
    assert sampling.guess_range(window.by_frames(), None, Fraction(30)) is None
    assert sampling.guess_range(window.by_stated_rate(6, 10, 25), 60, Fraction(30)) == (6, 11)
    assert sampling.guess_range(window.by_time(Fraction(1, 10), Fraction(3, 10)), 60, 30) == (3, 8)
