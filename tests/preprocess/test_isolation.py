"""Poison videos: a decoder that segfaults, hangs or eats memory costs one clip, not the job."""

import json
import pickle
import shutil
import subprocess
import time
from fractions import Fraction

import numpy as np
import psutil
import pytest

from preprocess import cli, manifests
from preprocess.synthetic import SyntheticConfig, make_dataset
from preprocess.video import decoder, demux
from preprocess.video.isolation import IsolatedDecoder
from preprocess.video.limits import ClipLimits, check_declared_size
from preprocess.video.messages import ClipReply, ClipRequest, VideoRequest, clip_window
from preprocess.video.sampling import Window
from schemas import dataset_info, features
from schemas.features import ClipSchema
from tests.preprocess.video_corpus import ffmpeg_exe

WHOLE = Window.by_frames()

POISON = "tests.preprocess.poison_decoders:decode_clip"
SMALL = dict(num_frames=4, size=16)


def _encode(path, size, seconds, rate=25):
    subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
         f"color=c=blue:s={size}:d={seconds}:r={rate}", "-c:v", "libx264", "-preset", "ultrafast",
         "-pix_fmt", "yuv420p", str(path)],
        check=True, timeout=60,
    )  # fmt: skip
    return str(path)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """A good video, copies of it named for the poison decoder, a 4K and a 1-minute video."""
    folder = tmp_path_factory.mktemp("poison")
    good = _encode(folder / "good.mp4", "64x48", 1)
    for name in ("segfault", "hang", "hog"):
        shutil.copy(good, folder / f"{name}.mp4")
    return {
        "folder": folder,
        "good": good,
        "uhd": _encode(folder / "uhd.mp4", "3840x2160", 0.2),
        "long": _encode(folder / "long.mp4", "32x32", 60),
    }


def test_isolated_decode_equals_in_process_decode(videos):
    isolated = IsolatedDecoder("pyav", ClipLimits())
    try:
        got = isolated.decode(videos["good"], **SMALL)
    finally:
        isolated.close()
    expected = decoder.decode_clip(videos["good"], **SMALL)
    np.testing.assert_array_equal(got.frames, expected.frames)
    assert got.frame_indices == expected.frame_indices
    assert got.num_source_frames == expected.num_source_frames == 25


def test_crash_hang_and_memory_each_cost_one_clip_and_the_child_restarts(videos):
    folder = videos["folder"]
    isolated = IsolatedDecoder(POISON, ClipLimits(timeout_s=2, memory_mb=512))
    try:
        with pytest.raises(decoder.DecodeError, match="SIGSEGV") as crash:
            isolated.decode(str(folder / "segfault.mp4"), **SMALL)
        assert crash.value.reason == "decoder_crashed"
        assert isolated.decode(videos["good"], **SMALL).frames.shape == (4, 16, 16, 3)

        pid = isolated.pid
        started = time.monotonic()
        with pytest.raises(decoder.DecodeError, match="2 s") as hang:
            isolated.decode(str(folder / "hang.mp4"), **SMALL)
        assert hang.value.reason == "timeout"
        assert time.monotonic() - started < 10
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE

        with pytest.raises(decoder.DecodeError, match="clip_memory_mb=512") as hog:
            isolated.decode(str(folder / "hog.mp4"), **SMALL)
        assert hog.value.reason == "too_large"
        assert isolated.decode(videos["good"], **SMALL).num_source_frames == 25
    finally:
        isolated.close()


def test_declared_frame_size_and_length_are_checked_before_decoding(videos):
    with pytest.raises(decoder.DecodeError, match=r"3840x2160 .*--clip_memory_mb=256") as big:
        check_declared_size(videos["uhd"], ClipLimits(memory_mb=256), WHOLE)
    assert big.value.reason == "too_large"
    check_declared_size(videos["uhd"], ClipLimits(memory_mb=4096), WHOLE)  # fits

    limits = ClipLimits(max_video_frames=1000)
    with pytest.raises(decoder.DecodeError, match=r"1500 frames .*--max_video_frames=1000"):
        check_declared_size(videos["long"], limits, WHOLE)
    # A short clip of a long video decodes only up to the clip's end: no reason to refuse it.
    check_declared_size(videos["long"], limits, Window.by_stated_rate(1, 50, 25))
    check_declared_size(str(videos["folder"] / "missing.mp4"), limits, WHOLE)  # decoder's job


def test_declared_length_without_a_frame_count_is_duration_times_rate(tmp_path):
    """MKV headers carry no frame count: the decoder's plan and the size limit both guess it
    from duration × rate with one helper, and the guess is the frames the file really holds."""
    import av

    path = _encode(tmp_path / "two_seconds.mkv", "32x32", 2)
    with av.open(path) as container:
        stream = container.streams.video[0]
        assert not stream.frames, "the test needs a header without a frame count"
        assert demux.declared_frames(container, stream) == (50, 25)
        assert sum(1 for _ in container.decode(video=0)) == 50
    check_declared_size(path, ClipLimits(max_video_frames=50), WHOLE)
    with pytest.raises(decoder.DecodeError, match=r"needs 50 frames .*--max_video_frames=49"):
        check_declared_size(path, ClipLimits(max_video_frames=49), WHOLE)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"timeout_s": -1}, "timeout"), ({"timeout_s": float("nan")}, "timeout"),
     ({"memory_mb": -5}, "memory_mb"), ({"max_video_frames": 1.5}, "max_video_frames")],
)  # fmt: skip
def test_limits_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ClipLimits(**kwargs)


@pytest.mark.slow
def test_pipeline_survives_poison_videos_and_writes_every_good_clip_intact(videos, tmp_path):
    root = tmp_path / "data"
    manifest = make_dataset(
        str(root), SyntheticConfig(num_classes=2, clips_per_class=3, width=48, height=48, seed=5)
    )
    with open(manifest) as f:
        entries = json.load(f)
    good = entries[0]["instances"][0]
    for i, name in enumerate(("segfault", "hang", "hog", "uhd", "long")):
        shutil.copy(videos["folder"] / f"{name}.mp4", root / "videos" / f"{name}.mp4")
        poison = dict(good, video_id=name, instance_id=200 + i, split="train")
        entries[1]["instances"].append(poison)
    with open(manifest, "w") as f:
        json.dump(entries, f)
    out = tmp_path / "out"
    info = cli.run([
        f"--manifest={manifest}", f"--video_dir={root / 'videos'}", f"--output_dir={out}",
        "--num_frames=4", "--size=16", "--direct_running_mode=in_memory",
        "--direct_num_workers=1", f"--decoder={POISON}", "--clip_timeout_s=3",
        "--clip_memory_mb=256", "--max_video_frames=1000",
    ])  # fmt: skip

    rows = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert {r["video_id"]: r["reason"] for r in rows} == {
        "segfault": "decoder_crashed", "hang": "timeout", "hog": "too_large", "uhd": "too_large",
        "long": "too_large",
    }  # fmt: skip
    assert info["num_failures"] == 5

    clips = [c for c in manifests.read_manifest(manifest, str(root / "videos")).clips
             if c.video_id not in {r["video_id"] for r in rows}]  # fmt: skip
    schema = ClipSchema(num_frames=4, size=16)
    import tensorflow as tf

    files = tf.io.gfile.glob(str(out / "*.tfrecord"))
    records = {}
    for record in (
        tf.data.TFRecordDataset(sorted(files))
        .map(lambda r: schema.parse(r, float_frames=False))
        .as_numpy_iterator()
    ):
        records[record[features.VIDEO_ID].decode()] = record
    assert sorted(records) == sorted(c.video_id for c in clips)
    for clip in clips:  # byte for byte the frames an in-process decode gives
        expected = decoder.decode_clip(
            clip.path, num_frames=4, size=16, frame_start=clip.frame_start,
            frame_end=clip.frame_end, fps=clip.fps,
        )  # fmt: skip
        got = records[clip.video_id]
        assert tuple(got[features.FRAME_INDICES]) == expected.frame_indices
        reencoded = tf.io.decode_jpeg(tf.io.encode_jpeg(expected.frames[0], quality=95)).numpy()
        np.testing.assert_array_equal(got[features.FRAMES][0], reencoded)
    assert dataset_info.read_dataset_info(str(out)).num_failures == 5


@pytest.mark.parametrize(
    "arguments",
    [
        {},
        {"frame_start": 5, "frame_end": 30},
        {"frame_start": 3, "frame_end": -1, "fps": Fraction(30000, 1001)},
        {"frame_start": 7, "frame_end": 41, "fps": Fraction(25)},
        {"start_time": Fraction(1, 5), "end_time": Fraction(2, 5)},
        {"start_time": Fraction(3, 2), "end_time": None},
    ],
)
def test_a_request_crosses_the_pipe_as_it_is_and_gives_back_its_arguments(arguments):
    """The child decodes by the window the pipeline built (pickled as is); decoders plugged in
    by name get decode_clip's arguments back from it, giving the same window."""
    request = ClipRequest(clip_window(**arguments), 4, 16, (1.0, 2.0, 30.0, 40.0))
    video = VideoRequest("a.mp4", (request,), threads=2)
    assert pickle.loads(pickle.dumps(video)) == video
    again = request.arguments()
    assert again.pop("num_frames") == 4 and again.pop("size") == 16 and again.pop("crop")
    assert clip_window(**again) == request.window


def test_a_reply_crosses_the_pipe_with_its_error_whole():
    error = decoder.DecodeError("a.mp4", "range_past_end", "too far", {"num_decoded_frames": 3})
    reply = pickle.loads(pickle.dumps(ClipReply(error=error)))
    assert (reply.decoded, reply.error.reason, reply.error.detail) == (None, "range_past_end",
                                                                         "too far")  # fmt: skip
    assert reply.error.info == {"num_decoded_frames": 3} and reply.error.path == "a.mp4"
