"""The optional decord decoder: exact where decord is right, and proof of where it is not."""

from fractions import Fraction

import pytest

from preprocess.video import decoder, decord_decoder, sampling
from tests.preprocess import video_corpus as corpus
from tests.preprocess.frame_exact import RANGES, assert_frame_exact, expected_indices

# decord seeks to sampled frames and lands on wrong ones in these (BUILD.md lists them).
DECORD_WRONG = ("mpeg4_bframes.avi", "mpeg2.mpg")
# decord reports no frame times for these (H.264 in AVI has no pts): the time rule cannot run.
DECORD_NO_TIMES = ("h264.avi",)
# H.264 with B-frames in AVI: decord returned a wrong frame in about 1 of 3 runs of this file's
# tests (never when run alone): right often is not right, so it is not tested as exact.
DECORD_UNRELIABLE = ("h264.avi",)
DECORD_RIGHT = [
    s.name
    for s in corpus.SPECS
    if s.pattern_box is None and s.name not in DECORD_WRONG + DECORD_UNRELIABLE
]


@pytest.mark.parametrize("name", DECORD_RIGHT)
@pytest.mark.parametrize("frame_start,frame_end,fps", RANGES)
def test_frame_exact_where_decord_is_right(video_corpus, name, frame_start, frame_end, fps):
    video = video_corpus[name]
    try:
        expected_indices(video, frame_start, frame_end, fps)
    except sampling.RangePastEnd:  # never twenty copies of the last frame: an error instead
        with pytest.raises(decoder.DecodeError, match="range_past_end"):
            decord_decoder.decode_clip(
                str(video.path), frame_start=frame_start, frame_end=frame_end, fps=fps
            )
        return
    clip = decord_decoder.decode_clip(
        str(video.path), frame_start=frame_start, frame_end=frame_end, fps=fps
    )
    assert clip.frames.shape == (20, 150, 150, 3)
    assert_frame_exact(clip, video, expected_indices(video, frame_start, frame_end, fps))


@pytest.mark.parametrize("name", DECORD_WRONG)
def test_decord_returns_wrong_frames_for_known_bad_codecs(video_corpus, name):
    """If this fails, decord got fixed for this codec: update DECORD_WRONG and BUILD.md."""
    video = video_corpus[name]
    clip = decord_decoder.decode_clip(str(video.path))
    assert clip.frame_indices == expected_indices(video, 1, -1, None)
    read = [corpus.read_index(f) for f in clip.frames]
    wrong = sum(r != video.reference.indices[i] for r, i in zip(read, clip.frame_indices))
    assert wrong > 0
    # The default decoder is right on the same file.
    exact = decoder.decode_clip(str(video.path))
    assert [corpus.read_index(f) for f in exact.frames] == list(exact.frame_indices)


def test_crop(video_corpus):
    video = video_corpus["crop_rot90.mp4"]
    clip = decord_decoder.decode_clip(str(video.path), frame_end=20, crop=video.spec.pattern_box)
    assert_frame_exact(clip, video, sampling.sample_indices(0, 19, 20), box=(0, 0, 1, 1))


def test_time_rule_on_2997fps(video_corpus):
    video = video_corpus["rate2997.mp4"]
    clip = decord_decoder.decode_clip(
        str(video.path), frame_start=26, frame_end=50, fps=Fraction(25)
    )
    assert_frame_exact(clip, video, sampling.sample_indices(30, 59, 20))


def test_bad_files(video_corpus, tmp_path):
    cases = {"missing_file": tmp_path / "nope.mp4", "empty_file": tmp_path / "empty.mp4"}
    cases["empty_file"].write_bytes(b"")
    cases["not_a_video"] = tmp_path / "text.mp4"
    cases["not_a_video"].write_text("not a video\n" * 50)
    data = video_corpus["h264_bframes.mp4"].path.read_bytes()
    cases["truncated"] = tmp_path / "cut.mp4"
    cases["truncated"].write_bytes(data[: len(data) // 2])
    for reason, path in cases.items():
        with pytest.raises(decoder.DecodeError) as e:
            decord_decoder.decode_clip(str(path))
        assert e.value.reason == reason


@pytest.mark.parametrize("name", DECORD_NO_TIMES)
def test_no_timestamps(video_corpus, name):
    with pytest.raises(decoder.DecodeError) as e:
        decord_decoder.decode_clip(str(video_corpus[name].path), fps=Fraction(25))
    assert e.value.reason == "no_timestamps"
