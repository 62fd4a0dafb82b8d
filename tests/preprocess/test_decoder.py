"""The PyAV decoder, frame-exact against ffmpeg's own decode of real encoded videos."""

import pickle
import shutil
import sys
from fractions import Fraction

import numpy as np
import pytest

import preprocess.video
from preprocess.video import decoder, registry, sampling
from tests.preprocess import video_corpus as corpus
from tests.preprocess.frame_exact import RANGES, assert_frame_exact, expected_indices


# Crop files (pattern inside a grey border) are checked with crop= below.
@pytest.mark.parametrize("name", [s.name for s in corpus.SPECS if s.pattern_box is None])
@pytest.mark.parametrize("frame_start,frame_end,fps", RANGES)
def test_frame_exact_against_ffmpeg(video_corpus, name, frame_start, frame_end, fps):
    video = video_corpus[name]
    try:
        expected_indices(video, frame_start, frame_end, fps)
    except sampling.RangePastEnd:
        with pytest.raises(decoder.DecodeError) as e:
            decoder.decode_clip(
                str(video.path), frame_start=frame_start, frame_end=frame_end, fps=fps
            )
        assert e.value.reason == "range_past_end" and e.value.info["num_decoded_frames"] >= 1
        return
    clip = decoder.decode_clip(
        str(video.path), frame_start=frame_start, frame_end=frame_end, fps=fps
    )
    assert clip.frames.shape == (20, 150, 150, 3) and clip.frames.dtype == np.uint8
    assert_frame_exact(clip, video, expected_indices(video, frame_start, frame_end, fps))


@pytest.mark.parametrize("fps", [None, Fraction(25)])
def test_frame_exact_on_a_file_larger_than_ffmpegs_buffers(tmp_path, fps):
    """Reading the MP4 header for rotation must not move the file under the demuxer."""
    spec = corpus.Spec(
        "large.mp4", corpus.H264_B, num_frames=40, width=320, height=240,
        pattern_box=(0, 0, 96, 64), noise=True,
    )  # fmt: skip
    path = corpus.write_video(spec, tmp_path)
    assert path.stat().st_size > 1_000_000
    box = corpus.pattern_box_fraction(spec)
    reference = corpus.reference_decode(path, spec.width, spec.height, box)
    assert reference.indices == tuple(range(40))
    clip = decoder.decode_clip(str(path), fps=fps)
    assert clip.num_source_frames == 40
    assert [corpus.read_index(f, box) for f in clip.frames] == list(clip.frame_indices)
    assert clip.frame_indices == sampling.sample_indices(0, 39, 20)


@pytest.mark.parametrize("name", ["h264_bframes.mp4", "mpeg4_bframes.avi", "hevc.mkv", "vfr.mp4"])
@pytest.mark.parametrize("threads", [1, 3])
def test_thread_count_does_not_change_frames(video_corpus, name, threads):
    """The pipeline gives each worker cores / workers threads; every count must be exact."""
    video = video_corpus[name]
    clip = decoder.decode_clip(str(video.path), fps=Fraction(25), threads=threads)
    assert_frame_exact(clip, video, expected_indices(video, 1, -1, Fraction(25)))


def test_decoding_stops_after_the_clips_last_frame(video_corpus):
    video = video_corpus["h264_bframes.mp4"]
    assert decoder.decode_clip(str(video.path), frame_end=30).num_source_frames == 30
    assert decoder.decode_clip(str(video.path)).num_source_frames == 75


@pytest.mark.parametrize("name", ["short7.mp4", "one_frame.mp4"])
def test_short_videos_repeat_frames(video_corpus, name):
    video = video_corpus[name]
    clip = decoder.decode_clip(str(video.path))
    n = video.spec.num_frames
    assert clip.num_source_frames == n
    assert sorted(set(clip.frame_indices)) == list(range(n))
    assert_frame_exact(clip, video, sampling.sample_indices(0, n - 1, 20))


def test_a_range_running_past_the_end_is_clamped_and_says_so(video_corpus):
    video = video_corpus["h264.mkv"]  # 45 frames
    clip = decoder.decode_clip(str(video.path), frame_start=40, frame_end=100)
    assert_frame_exact(clip, video, sampling.sample_indices(39, 44, 20))
    assert (clip.first, clip.last, clip.clamped) == (39, 44, True)
    whole = decoder.decode_clip(str(video.path), frame_start=40, frame_end=45)
    assert (whole.first, whole.last, whole.clamped) == (39, 44, False)


@pytest.mark.parametrize(
    "kwargs,info",
    [
        ({"frame_start": 46, "frame_end": 200}, {"frame_start": 46, "num_decoded_frames": 45}),
        ({"frame_start": 60, "frame_end": -1, "fps": Fraction(25)}, {"window_start_s": 2.36}),
        ({"start_time": Fraction(5), "end_time": Fraction(6)}, {"window_end_s": 6.0}),
    ],
)
def test_a_range_starting_past_the_end_is_an_error_never_a_record(video_corpus, kwargs, info):
    """Never twenty copies of the last frame: the numbers go to errors.jsonl instead."""
    video = video_corpus["h264.mkv"]  # 45 frames at 25 fps: 1.8 s
    with pytest.raises(decoder.DecodeError) as e:
        decoder.decode_clip(str(video.path), **kwargs)
    assert e.value.reason == "range_past_end"
    assert info.items() <= e.value.info.items()
    assert "starts after the video's last frame" in e.value.detail
    assert pickle.loads(pickle.dumps(e.value)).info == e.value.info


def test_a_time_window_in_seconds_selects_by_display_time(video_corpus):
    video = video_corpus["h264.mkv"]
    clip = decoder.decode_clip(str(video.path), start_time=Fraction(1, 5), end_time=Fraction(2, 5))
    # [0.2 s, 0.4 s) is exactly what 25-fps frame numbers 6..10 stand for.
    same = decoder.decode_clip(str(video.path), frame_start=6, frame_end=10, fps=Fraction(25))
    assert clip.frame_indices == same.frame_indices
    inside = [
        i for i, t in enumerate(video.reference.times) if Fraction(1, 5) <= t < Fraction(2, 5)
    ]
    assert (clip.first, clip.last) == (inside[0], inside[-1])
    assert_frame_exact(clip, video, sampling.sample_indices(inside[0], inside[-1], 20))
    with pytest.raises(ValueError, match="not both"):
        decoder.decode_clip(str(video.path), fps=Fraction(25), start_time=Fraction(0))


@pytest.mark.parametrize("name", ["rot90.mp4", "rot180.mp4", "rot270.mp4"])
def test_rotation_metadata_is_applied_like_ffmpeg_autorotate(video_corpus, name):
    video = video_corpus[name]
    clip = decoder.decode_clip(str(video.path), num_frames=4, size=48)
    # The pattern reads only upright (its corner marker fixes the orientation).
    assert_frame_exact(clip, video, sampling.sample_indices(0, 44, 4))
    frame = clip.frames[0]
    assert frame[:12, :8].mean() > 200 and frame[:12, -8:].mean() < 50  # white corner top left


def test_variable_frame_rate_time_rule(video_corpus):
    # Frames at 0, 40, 80, 140, 180, 220, 280 ms ...; 25-fps frames 2..4 are [40 ms, 160 ms).
    for name in ("vfr.mkv", "vfr.mp4"):
        video = video_corpus[name]
        assert video.reference.times[:5] == tuple(Fraction(t, 1000) for t in (0, 40, 80, 140, 180))
        clip = decoder.decode_clip(str(video.path), frame_start=2, frame_end=4, fps=Fraction(25))
        assert_frame_exact(clip, video, sampling.sample_indices(1, 3, 20))


@pytest.mark.parametrize("name", ["rate30.mp4", "rate2997.mp4"])
def test_wlasl_25fps_numbers_on_30_and_2997fps_files(video_corpus, name):
    video = video_corpus[name]
    clip = decoder.decode_clip(str(video.path), frame_start=26, frame_end=50, fps=Fraction(25))
    # [1.0 s, 2.0 s): frames 30..59 at 30 fps (30 is at 1.0 s exactly) and at 29.97 fps.
    assert_frame_exact(clip, video, sampling.sample_indices(30, 59, 20))


def test_stated_25fps_on_a_25fps_file_equals_the_frames_of_the_file(video_corpus):
    path = str(video_corpus["rate25.mp4"].path)
    by_time = decoder.decode_clip(path, frame_start=7, frame_end=41, fps=Fraction(25))
    by_index = decoder.decode_clip(path, frame_start=7, frame_end=41)
    assert by_time.frame_indices == by_index.frame_indices == sampling.sample_indices(6, 40, 20)
    np.testing.assert_array_equal(by_time.frames, by_index.frames)


@pytest.mark.parametrize("name", ["crop.mp4", "crop_rot90.mp4"])
def test_crop_uses_displayed_frame_pixels(video_corpus, name):
    video = video_corpus[name]
    clip = decoder.decode_clip(str(video.path), frame_end=20, crop=video.spec.pattern_box)
    assert_frame_exact(clip, video, sampling.sample_indices(0, 19, 20), box=(0, 0, 1, 1))


def test_crop_outside_the_frame(video_corpus):
    with pytest.raises(decoder.DecodeError) as e:
        decoder.decode_clip(str(video_corpus["crop.mp4"].path), crop=(500, 500, 600, 600))
    assert e.value.reason == "crop_outside_frame"


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(crop=(10, 10, 5, 20)), "x0 < x1"),
        (dict(crop=(1, 2, 3)), "4 finite"),
        (dict(num_frames=0), "num_frames"),
        (dict(size=0), "size"),
        (dict(fps=Fraction(0)), "fps"),
        (dict(frame_start=0), "frame_start"),
        (dict(frame_start=5, frame_end=3), "frame_end"),
    ],
)
def test_bad_arguments_are_value_errors(video_corpus, kwargs, match):
    with pytest.raises(ValueError, match=match):
        decoder.decode_clip(str(video_corpus["h264.mkv"].path), **kwargs)


def test_non_ascii_file_name(video_corpus, tmp_path):
    video = video_corpus["h264_bframes.mp4"]
    path = tmp_path / "vidéo signée 手話 ñ.mp4"
    shutil.copyfile(video.path, path)
    clip = decoder.decode_clip(str(path), frame_start=3, frame_end=60)
    assert_frame_exact(clip, video, sampling.sample_indices(2, 59, 20))


def test_size_and_num_frames(video_corpus):
    video = video_corpus["hevc.mp4"]
    clip = decoder.decode_clip(str(video.path), num_frames=4, size=32)
    assert clip.frames.shape == (4, 32, 32, 3)
    assert_frame_exact(clip, video, sampling.sample_indices(0, 44, 4))


@pytest.fixture(scope="module")
def bad_files(video_corpus, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad_videos")
    out = corpus.write_bad_files(
        folder, video_corpus["h264_bframes.mp4"].path, video_corpus["h264_faststart.mp4"].path
    )
    # Other containers cut at 60%: each must be caught, not decoded into a short clip.
    for name in ("h264.mkv", "vp9.webm", "h264.avi", "h264.flv", "h264_audio.mov"):
        data = video_corpus[name].path.read_bytes()
        out[f"cut_{name}"] = folder / f"cut_{name}"
        out[f"cut_{name}"].write_bytes(data[: len(data) * 6 // 10])
    return out


BAD_CASES = {
    "missing": "missing_file",
    "empty": "empty_file",
    "text": "not_a_video",
    "random": "not_a_video",
    "audio_only": "no_video_stream",
    "truncated_moov_last": "truncated",
    "truncated_faststart": "truncated",
    "cut_h264.mkv": "truncated",
    "cut_vp9.webm": "truncated",
    "cut_h264.avi": "truncated",
    "cut_h264.flv": "truncated",
    "cut_h264_audio.mov": "truncated",
}


@pytest.mark.parametrize("case,reason", sorted(BAD_CASES.items()))
def test_bad_files_raise_a_specific_reason(bad_files, case, reason):
    path = str(bad_files[case])
    with pytest.raises(decoder.DecodeError) as e:
        decoder.decode_clip(path)
    assert e.value.reason == reason
    assert e.value.path == path
    assert str(e.value) == f"{path}: {reason}: {e.value.detail}"


def test_truncated_files_fail_even_when_the_clip_lies_before_the_cut(bad_files):
    for case in ("truncated_faststart", "cut_h264.mkv", "cut_h264.avi"):
        with pytest.raises(decoder.DecodeError, match="truncated"):
            decoder.decode_clip(str(bad_files[case]), frame_end=2)


def test_a_cut_mpeg_program_stream_is_a_decode_failure(video_corpus, tmp_path):
    data = video_corpus["mpeg2.mpg"].path.read_bytes()
    path = tmp_path / "cut.mpg"
    path.write_bytes(data[: len(data) * 6 // 10])
    with pytest.raises(decoder.DecodeError) as e:
        decoder.decode_clip(str(path))
    assert e.value.reason == "decode_failed"


def test_a_folder_is_unreadable(tmp_path):
    with pytest.raises(decoder.DecodeError) as e:
        decoder.decode_clip(str(tmp_path))
    assert e.value.reason == "unreadable_file"


def test_decode_error_pickles_with_its_fields():
    e = pickle.loads(pickle.dumps(decoder.DecodeError("a.mp4", "truncated", "cut")))
    assert (e.path, e.reason, e.detail) == ("a.mp4", "truncated", "cut")
    assert str(e) == "a.mp4: truncated: cut"


def test_get_decoder():
    assert registry.get_decoder("pyav") is decoder.decode_clip
    from preprocess.video import decord_decoder

    assert registry.get_decoder("decord") is decord_decoder.decode_clip
    with pytest.raises(ValueError, match="pyav, decord"):
        registry.get_decoder("opencv")


def test_get_decoder_without_decord_names_the_flag_and_extra(monkeypatch):
    # A None entry in sys.modules makes `import decord` fail, as on a machine without it.
    monkeypatch.setitem(sys.modules, "decord", None)
    monkeypatch.delitem(sys.modules, "preprocess.video.decord_decoder", raising=False)
    monkeypatch.delattr(preprocess.video, "decord_decoder", raising=False)
    with pytest.raises(ValueError, match=r"--decoder=decord.*aslvid2gloss\[decord\]"):
        registry.get_decoder("decord")


@pytest.mark.slow
def test_url_paths_are_read_through_tensorflow_gfile(video_corpus):
    import tensorflow as tf

    video = video_corpus["h264_faststart.mp4"]
    url = "ram://videos/clip.mp4"  # TensorFlow's in-memory file system: a real "://" path
    tf.io.gfile.makedirs("ram://videos")
    tf.io.gfile.copy(str(video.path), url, overwrite=True)
    clip = decoder.decode_clip(url, frame_start=2)
    assert_frame_exact(clip, video, sampling.sample_indices(1, 74, 20))
    with pytest.raises(decoder.DecodeError) as e:
        decoder.decode_clip("ram://videos/missing.mp4")
    assert e.value.reason == "missing_file"


SHARED_WINDOWS = [
    sampling.Window.by_frames(),
    sampling.Window.by_frames(5, 30),
    sampling.Window.by_stated_rate(3, 20, Fraction(25)),
    sampling.Window.by_stated_rate(30, -1, Fraction(25)),
    sampling.Window.by_time(Fraction(1, 10), Fraction(1, 2)),
    sampling.Window.by_time(Fraction(1), Fraction(9)),  # runs past the end: clamped
    sampling.Window.by_time(Fraction(50), None),  # starts past the end: range_past_end
]


def _outcome(result):
    if isinstance(result, decoder.DecodeError):
        return ("error", result.reason, result.detail)
    return (result.frame_indices, result.first, result.last, result.clamped,
            result.num_source_frames, result.frames.tobytes())  # fmt: skip


@pytest.mark.parametrize("name", [s.name for s in corpus.SPECS if s.pattern_box is None])
def test_clips_sharing_a_video_equal_the_same_clips_decoded_alone(video_corpus, name):
    """One pass over a shared video (raw WLASL, MS-ASL) gives each clip its own frames."""
    path = str(video_corpus[name].path)
    requests = [decoder.ClipRequest(w, num_frames=8, size=32) for w in SHARED_WINDOWS]
    together = decoder.decode_clips(path, requests)
    for request, result in zip(requests, together):
        try:
            alone = decoder.decode_clips(path, [request])[0]
        except decoder.DecodeError as e:  # pragma: no cover - decode_clips returns errors
            alone = e
        assert _outcome(result) == _outcome(alone), request.window.describe()
        if not isinstance(result, decoder.DecodeError):  # and they are ffmpeg's frames
            ref = video_corpus[name].reference
            window = request.window
            found = (
                sampling.range_by_time(window, ref.times)
                if window.timed
                else sampling.range_by_index(window, len(ref.indices))
            )
            expected = sampling.sample_indices(found.first, found.last, 8)
            assert (result.first, result.last, result.clamped) == (
                found.first, found.last, found.clamped,
            )  # fmt: skip
            assert [corpus.read_index(f) for f in result.frames] == [
                ref.indices[i] for i in expected
            ]
    assert _outcome(together[-1])[:2] == ("error", "range_past_end")


def test_a_broken_shared_video_fails_each_of_its_clips(video_corpus, tmp_path):
    broken = tmp_path / "cut.mp4"
    data = video_corpus["h264_bframes.mp4"].path.read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    requests = [decoder.ClipRequest(w, num_frames=4, size=16) for w in SHARED_WINDOWS[:3]]
    results = decoder.decode_clips(str(broken), requests)
    assert [r.reason for r in results] == ["truncated"] * 3


def test_failure_reasons_are_plain_strings_of_the_record_contract():
    """errors.jsonl's reasons: one constant each in schemas/reasons.py, which the decoding
    process imports, so it imports nothing (no TensorFlow, no numpy)."""
    import ast
    import pathlib

    from schemas import reasons

    source = pathlib.Path(reasons.__file__).read_text()
    nodes = ast.walk(ast.parse(source))
    imports = [n for n in nodes if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert [getattr(n, "module", None) for n in imports] == ["__future__"]
    assert len(set(reasons.REASONS)) == len(reasons.REASONS) == 19
    assert reasons.DECODE_FAILED == "decode_failed" and reasons.TOO_LARGE == "too_large"
    named = {v for k, v in vars(reasons).items() if k.isupper() and isinstance(v, str)}
    assert named == set(reasons.REASONS)
