"""A preprocess run SIGKILLed mid-run never looks finished; the same command again finishes it."""

import os
import signal
import subprocess
import sys

import psutil
import pytest

from preprocess.synthetic import SyntheticConfig
from schemas import dataset_info, layout
from tests.preprocess.held_run import POISON, held_dataset, release, wait_for_held_clip
from training import shard_source

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _command(manifest, video_dir, out, *extra):
    return [
        sys.executable, "-m", "preprocess", f"--manifest={manifest}", f"--video_dir={video_dir}",
        f"--output_dir={out}", "--num_frames=4", "--size=16", "--direct_running_mode=in_memory",
        "--direct_num_workers=1", f"--decoder={POISON}", *extra,
    ]  # fmt: skip


def _decoder_children(pid):
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [c for c in children if "preprocess.video.isolation" in " ".join(c.cmdline())]


@pytest.mark.slow
def test_sigkill_mid_run_leaves_no_finished_looking_folder_and_rerun_finishes(tmp_path):
    # One clip is held: the job is surely mid-run when it is killed.
    config = SyntheticConfig(num_classes=2, clips_per_class=3, width=48, height=48, seed=7)
    manifest, videos, wait_mp4 = held_dataset(tmp_path / "data", config)

    out = tmp_path / "out"
    cmd = _command(manifest, videos, out)
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # Killed while it sits on the held clip (the test decoder marks that point).
    wait_for_held_clip(proc, wait_mp4)
    children = _decoder_children(proc.pid)
    assert children, "the job never started decoding"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL

    names = os.listdir(out)
    assert layout.DATASET_JSON not in names, "a killed run must not look finished"
    assert not [n for n in names if n.endswith(".tfrecord")], "no shard before decoding ends"
    with pytest.raises((FileNotFoundError, ValueError)):
        shard_source.open_source(f"{out}/*")  # the trainer refuses the folder
    # The decoding child does not outlive the killed job (it watches its parent).
    gone = psutil.wait_procs(children, timeout=10)[1]
    assert not gone, f"decoder processes left running: {gone}"

    # The killed run's lock file names it, but the kernel dropped its lock: no stale block.
    assert (out / layout.LOCK_FILE).read_text().strip() == str(proc.pid)
    # Another command refuses to mix with the unfinished run, naming what to do.
    other = subprocess.run(
        [*cmd, "--num_shards=1"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert other.returncode == 2
    assert "unfinished run (no dataset.json) of another command" in other.stderr
    assert "--overwrite" in other.stderr

    release(wait_mp4)  # the machine is back: the same command again finishes the job
    again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "unfinished run of this same command" in again.stderr
    info = dataset_info.read_dataset_info(str(out))
    assert info.num_failures == 0
    assert sum(s["examples"] for s in info.splits.values()) == 7
    assert not [n for n in os.listdir(out) if n.endswith(".tmp")]
    assert shard_source.open_source(f"{out}/*").num_examples == 7
