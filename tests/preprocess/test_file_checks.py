"""Paths that are not readable regular files: one reason each, in preprocess as in predict."""

import ctypes
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from preprocess.video import decoder, isolation, limits, registry
from preprocess.video.messages import ClipRequest, VideoRequest
from preprocess.video.sampling import Window
from schemas.dataset_info import DatasetInfo
from schemas.features import ClipSchema
from tests.preprocess import video_corpus as corpus
from training import predict

ROOT = Path(__file__).resolve().parents[2]


def _reasons(path: str) -> dict[str, tuple[str, str]]:
    """(reason, detail) from each way a video is decoded: in process, the preprocess job's
    isolated child (both decoders), and training.predict."""
    out = {}
    for name in ("pyav", "decord"):
        try:
            registry.get_decoder(name)(path, num_frames=4, size=16)
            out[name] = ("ok", "")
        except decoder.DecodeError as e:
            out[name] = (e.reason, e.detail)
        isolated = isolation.IsolatedDecoder(name, limits.ClipLimits(timeout_s=20))
        try:
            request = VideoRequest(path, (ClipRequest(Window.by_frames(), 4, 16),))
            (reply,) = isolated.decode_video(request)
        finally:
            isolated.close()
        out[f"isolated {name}"] = (
            (reply.error.reason, reply.error.detail) if reply.error is not None else ("ok", "")
        )
    info = DatasetInfo(clip=ClipSchema(num_frames=4, size=16))
    try:
        predict.decode_for_model(path, info)
        out["predict"] = ("ok", "")
    except decoder.DecodeError as e:
        out["predict"] = (e.reason, e.detail)
    return out


def _assert_everywhere(path, reason, detail_part):
    got = _reasons(str(path))
    assert set(got.values()) == {got["pyav"]}, got  # one answer, whoever decodes
    assert got["pyav"][0] == reason and detail_part in got["pyav"][1], got


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    spec = corpus.Spec("v.mp4", corpus.H264_B, num_frames=10)
    return corpus.write_video(spec, tmp_path_factory.mktemp("video"))


def test_a_fifo_is_named_and_never_opened(tmp_path):
    """Opening a FIFO blocks until a writer comes: the isolated child timed out on it."""
    fifo = tmp_path / "clip.mp4"
    os.mkfifo(fifo)
    _assert_everywhere(fifo, "not_a_regular_file", "FIFO")


def test_a_character_device():
    _assert_everywhere("/dev/zero", "not_a_regular_file", "character device")


def test_a_socket(tmp_path):
    path = tmp_path / "s.mp4"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        _assert_everywhere(path, "not_a_regular_file", "socket")


def test_a_proc_file_that_says_it_has_no_bytes():
    assert os.path.getsize("/proc/self/status") == 0  # and yet it reads
    _assert_everywhere("/proc/self/status", "not_a_regular_file", "0 bytes but has some")


def test_an_empty_file_is_still_empty(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    _assert_everywhere(path, "empty_file", "0 bytes")


def test_a_symlink_loop(tmp_path):
    (tmp_path / "a.mp4").symlink_to(tmp_path / "b.mp4")
    (tmp_path / "b.mp4").symlink_to(tmp_path / "a.mp4")
    _assert_everywhere(tmp_path / "a.mp4", "unreadable_file", "symlink loop")


def test_a_dangling_symlink_names_its_target(tmp_path):
    (tmp_path / "clip.mp4").symlink_to(tmp_path / "gone" / "x.mp4")
    _assert_everywhere(tmp_path / "clip.mp4", "missing_file", f"dangling symlink to {tmp_path}")


def test_a_symlink_to_a_video_decodes(tmp_path, video):
    (tmp_path / "link.mp4").symlink_to(video)
    got = _reasons(str(tmp_path / "link.mp4"))
    assert set(got.values()) == {("ok", "")}, got


_IN_A_CHILD = """
import json, sys
from tests.preprocess.test_file_checks import _reasons
print(json.dumps(_reasons(sys.argv[1])))
"""
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH, _PR_CAPBSET_DROP = 1, 2, 24


def _without_root_file_access() -> None:
    """Runs in the child before exec: drops the capabilities that let root read any file (from
    the bounding set, so the program exec'd and its own children never get them back)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_a_file_without_read_permission_is_unreadable(tmp_path, video):
    """The tests run as root, which reads any file whatever its mode: the decoders then run in a
    child without the capabilities for that (the project's Python lives under root's 0700 home,
    so dropping to another user would leave the child no interpreter)."""
    path = tmp_path / "clip.mp4"
    shutil.copy(video, path)
    path.chmod(0o000)
    if os.geteuid() != 0:
        got = _reasons(str(path))
    else:
        try:
            done = subprocess.run(
                [sys.executable, "-c", _IN_A_CHILD, str(path)],
                preexec_fn=_without_root_file_access,
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                capture_output=True,
                text=True,
                timeout=300,
            )
        except subprocess.SubprocessError as e:  # the preexec_fn failed: no CAP_SETPCAP here
            pytest.skip(f"cannot drop root's file access in a child here ({e})")
        assert done.returncode == 0, done.stderr[-3000:]
        got = {k: tuple(v) for k, v in json.loads(done.stdout.splitlines()[-1]).items()}
    assert set(got.values()) == {("unreadable_file", "permission denied")}, got
