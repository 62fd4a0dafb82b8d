"""The output folder under real processes: one run at a time, and one line for what goes wrong.

Two runs into one folder used to delete each other's records (one died with a traceback); a full
disk printed 346 lines. Real jobs here, held mid-run by the test decoder's .hold file, a real
full file system (a small tmpfs; the suite runs as root, as CI does).
"""

import hashlib
import os
import subprocess
import sys
import uuid

import pytest

from preprocess.synthetic import SyntheticConfig, make_dataset
from schemas import dataset_info, layout
from tests.preprocess.held_run import POISON, held_dataset, release, wait_for_held_clip

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _command(manifest, video_dir, out, *extra):
    return [
        sys.executable, "-m", "preprocess", f"--manifest={manifest}", f"--video_dir={video_dir}",
        f"--output_dir={out}", "--num_frames=4", "--size=16", "--direct_num_workers=1",
        f"--decoder={POISON}", *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def held(tmp_path_factory):
    """A dataset with one clip the test decoder holds: a run stays mid-run until released."""
    config = SyntheticConfig(num_classes=2, clips_per_class=2, width=48, height=48, seed=5)
    return held_dataset(tmp_path_factory.mktemp("held"), config)


def _shards(out):
    return {
        n: hashlib.sha256((out / n).read_bytes()).hexdigest()
        for n in sorted(os.listdir(out))
        if n.endswith(".tfrecord")
    }


@pytest.mark.slow
def test_a_second_run_into_a_busy_folder_is_refused_and_the_first_finishes(held, tmp_path):
    manifest, videos, wait_mp4 = held
    out = tmp_path / "out"
    first = subprocess.Popen(_command(manifest, videos, out), cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        wait_for_held_clip(first, wait_mp4)
        records_before = sorted(os.listdir(out / layout.RECORDS_DIR))
        # The same command (which would restart a killed run) and another one with --overwrite.
        for extra in ((), ("--overwrite", "--num_shards=1")):
            second = subprocess.run(_command(manifest, videos, out, *extra), cwd=REPO,
                                    capture_output=True, text=True, timeout=120)  # fmt: skip
            assert second.returncode == 2, second.stderr
            errors = [line for line in second.stderr.splitlines() if line.startswith("error")]
            assert errors == [
                f"error: --output_dir {out} is in use by another preprocess run "
                f"(pid {first.pid}): wait for it to end, or write elsewhere"
            ]
            assert "Traceback" not in second.stderr
        # Nothing of the first run's was deleted (it may have written more meanwhile).
        assert set(records_before) <= set(os.listdir(out / layout.RECORDS_DIR))
    finally:
        release(wait_mp4)
    stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr[-3000:]
    info = dataset_info.read_dataset_info(str(out))
    assert sum(s["examples"] for s in info.splits.values()) == 5 and info.num_failures == 0
    assert not [n for n in os.listdir(out) if n.endswith(".tmp")]


def test_an_output_dir_that_is_a_file_is_one_line(held, tmp_path):
    manifest, videos, _ = held
    path = tmp_path / "a-file"
    path.write_text("not a folder\n")
    for out in (path, path / "sub"):
        result = subprocess.run(_command(manifest, videos, out), cwd=REPO, capture_output=True,
                                text=True, timeout=120)  # fmt: skip
        assert result.returncode == 2
        errors = [line for line in result.stderr.splitlines() if line.startswith("error")]
        assert len(errors) == 1 and "is a file, not a folder" in errors[0], result.stderr
        assert "Traceback" not in result.stderr
    assert path.read_text() == "not a folder\n"


@pytest.fixture
def small_disk(tmp_path):
    """A real file system with room for the labels and a few records, not for the shards."""
    mount = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True, text=True)  # fmt: skip
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {made.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_the_rerun_after_freeing_space_is_identical(
    tmp_path, small_disk
):
    root = tmp_path / "data"
    manifest = make_dataset(
        str(root), SyntheticConfig(num_classes=2, clips_per_class=4, width=48, height=48, seed=2)
    )
    cmd = [sys.executable, "-m", "preprocess", f"--manifest={manifest}",
           f"--video_dir={root / 'videos'}", "--size=64", "--frame_encoding=raw"]  # fmt: skip
    out = small_disk / "out"
    full = subprocess.run([*cmd, f"--output_dir={out}"], cwd=REPO, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert full.returncode == 1
    errors = [line for line in full.stderr.splitlines() if line.startswith("error")]
    assert errors == [
        f"error: no space left on device writing {out}; free space and run the same command "
        "again (it starts the run over)"
    ], full.stderr
    assert "Traceback" not in full.stderr and len(full.stderr.splitlines()) <= 4
    assert not (out / layout.DATASET_JSON).exists()

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    again = subprocess.run([*cmd, f"--output_dir={out}"], cwd=REPO, capture_output=True,
                           text=True, timeout=300)  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    reference = tmp_path / "reference"
    subprocess.run([*cmd, f"--output_dir={reference}"], cwd=REPO, check=True,
                   capture_output=True, timeout=300)  # fmt: skip
    assert _shards(out) == _shards(reference) and _shards(out)
