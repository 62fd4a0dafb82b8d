"""Damaged frame data: a clip is refused when a sampled frame is predicted from a frame FFmpeg
reported damaged, else it is the clean file's clip byte for byte (issue 18). Real libx264 files
with B-frames, real bit flips inside mdat; the long survey is `python -m tests.preprocess.bitflip`.
"""

import collections

import av
import av.logging
import av.video.frame
import numpy as np
import pytest

from preprocess.video import decoder, sampling
from tests.preprocess import bitflip

SEEDS = range(14)  # a few seconds; 100 seeds in the survey


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("x264")
    return {
        "long_gop": bitflip.write_h264(folder, "long_gop.mp4", bitflip.LONG_GOP),
        "gop25": bitflip.write_h264(folder, "gop25.mp4", bitflip.GOP_25),
    }


@pytest.mark.parametrize("name", ["long_gop", "gop25"])
@pytest.mark.parametrize("threads", [0, 1])
def test_a_clip_is_refused_or_the_clean_files_clip(files, name, threads, tmp_path):
    """Shared passes give each clip what it gets alone, and a clip that differs from the clean
    file's passes only when FFmpeg itself reports nothing about the flip that changed it."""
    clean = files[name]
    data = clean.read_bytes()
    kinds = collections.Counter()
    for seed in SEEDS:
        damaged_bytes, flips = bitflip.flip_bits(data, seed)
        damaged = tmp_path / f"seed{seed}.mp4"
        damaged.write_bytes(damaged_bytes)
        for v in bitflip.judge(clean, damaged, seed, flips, threads):
            where = (seed, flips, v.window, v.kind, v.reason)
            assert v.shared_equals_alone, where
            kinds[v.kind] += 1
            if v.kind == "failed":
                assert v.reason in {"damaged_reference", "corrupt_frame", "decode_failed"}, where
            elif v.kind == "accepted-different":
                assert bitflip.silent_flip(data, v, tmp_path / "one_flip.mp4"), where
    assert kinds["failed"] and kinds["accepted-identical"], kinds


def _frames_by_packet(path):
    """(display index, pict type) of the frame decoded from each packet, in decode order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [p.pts for p in container.demux(stream) if p.size]
        container.seek(0)
        frames = enumerate(container.decode(stream))
        shown = {f.pts: (i, av.video.frame.PictureType(f.pict_type).name) for i, f in frames}
    return [shown[pts] for pts in packets], packets


@pytest.fixture(scope="module")
def damaged_p_frame(files, tmp_path_factory):
    """gop25.mp4 with one bit flipped in a P-frame of its fourth GOP (frames 75..99), at a place
    FFmpeg's CLI reports damage for; (clean path, damaged path, the P-frame's display index)."""
    clean = files["gop25"]
    data = clean.read_bytes()
    path = tmp_path_factory.mktemp("damaged") / "gop25_p.mp4"
    by_packet, _ = _frames_by_packet(clean)
    with av.open(str(clean)) as container:
        stream = container.streams.video[0]
        spans = [(p.pos, p.size) for p in container.demux(stream) if p.size]
    for (shown, kind), (pos, size) in zip(by_packet, spans):
        if kind != "P" or not 80 <= shown <= 90:
            continue
        for offset in (size // 2, size // 3, 2 * size // 3):
            path.write_bytes(bitflip.apply_flips(data, [(pos + offset, 0)]))
            if bitflip.ffmpeg_reports(path, 100):
                return clean, path, shown
    raise AssertionError("no flip in a P-frame of frames 80..90 that FFmpeg reports")


@pytest.mark.parametrize("threads", [0, 1])
def test_damage_in_an_unsampled_frame_fails_the_clips_predicted_from_it(damaged_p_frame, threads):
    clean, damaged, shown = damaged_p_frame
    # Frames shown..99 are predicted from the P-frame (decoded after it, before the key frame
    # 100); the P-frame itself is not sampled.
    window = dict(frame_start=shown + 2, frame_end=100, num_frames=5)
    indices = sampling.sample_indices(shown + 1, 99, 5)
    assert shown not in indices
    with pytest.raises(decoder.DecodeError) as e:
        decoder.decode_clip(str(damaged), threads=threads, **window)
    assert e.value.reason == "damaged_reference"
    assert e.value.info["damaged_frame"] == shown
    assert f"from frame {shown}, which FFmpeg reported damaged" in e.value.detail
    # The clean file gives the clip.
    decoder.decode_clip(str(clean), threads=threads, **window)


@pytest.mark.parametrize("threads", [0, 1])
def test_a_clip_after_the_next_clean_key_frame_is_the_clean_files(damaged_p_frame, threads):
    clean, damaged, _ = damaged_p_frame
    window = dict(frame_start=101, frame_end=150, threads=threads)  # key frame 100 on
    got = decoder.decode_clip(str(damaged), **window)
    want = decoder.decode_clip(str(clean), **window)
    assert got.frame_indices == want.frame_indices
    np.testing.assert_array_equal(got.frames, want.frames)


def test_a_callers_own_log_capture_does_not_hide_the_damage(damaged_p_frame):
    """On one thread FFmpeg logs from the caller's thread, where a caller's av.logging.Capture
    would take the lines first."""
    _, damaged, shown = damaged_p_frame
    with av.logging.Capture() as theirs:
        with pytest.raises(decoder.DecodeError) as e:
            decoder.decode_clip(str(damaged), frame_start=shown + 2, frame_end=100, threads=1)
    assert e.value.reason == "damaged_reference" and theirs == []
