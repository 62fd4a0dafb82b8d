"""The sampling rule of DESIGN.md, checked on hand-worked cases and properties."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from preprocess import sampling


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
    assert sampling.frame_range_by_index(100, 200, 45) == (44, 44)
    assert sampling.frame_range_by_index(1, -1, 1) == (0, 0)


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
    assert sampling.frame_range_by_time(times, 500, -1, Fraction(25)) == (2, 2)  # past the end


@given(
    total=st.integers(1, 300),
    start=st.integers(1, 320),
    length=st.one_of(st.just(None), st.integers(0, 320)),
)
def test_time_rule_equals_index_rule_on_a_constant_25fps_file(total, start, length):
    end = -1 if length is None else start + length
    times = _times(total, 25)
    assert sampling.frame_range_by_time(
        times, start, end, Fraction(25)
    ) == sampling.frame_range_by_index(start, end, total)


@given(
    times_ms=st.lists(st.integers(1, 100), min_size=1, max_size=60),
    start=st.integers(1, 80),
    length=st.one_of(st.just(None), st.integers(0, 80)),
)
def test_range_tracker_stops_without_changing_the_result(times_ms, start, length):
    end = -1 if length is None else start + length
    times = [Fraction(0)] + [Fraction(t, 1000) for t in np.cumsum(times_ms).tolist()]
    for fps in (None, Fraction(25)):
        tracker = sampling.RangeTracker(start, end, fps)
        for t in times:
            tracker.add(t)
            if tracker.done:
                break
        full = (
            sampling.frame_range_by_index(start, end, len(times))
            if fps is None
            else sampling.frame_range_by_time(times, start, end, fps)
        )
        assert tracker.result() == full
        if fps is None and end != -1 and end <= len(times):
            assert tracker.count == end  # stops right at the clip's last frame


def test_guess_range_uses_the_containers_claims():
    assert sampling.guess_range(1, -1, None, 75, Fraction(30)) == (0, 74)
    assert sampling.guess_range(1, -1, None, None, Fraction(30)) is None
    assert sampling.guess_range(6, 10, Fraction(25), 60, Fraction(30)) == (6, 11)
