"""Byte-identical output across processes: two separate runs of `python -m preprocess` with
different hash seeds write the same shards and the same reports (several worker processes
against one: tests/preprocess/test_pipeline.py)."""

import hashlib
import os
import subprocess
import sys

import pytest

from preprocess.synthetic import SyntheticConfig, make_dataset

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _digests(folder):
    return {
        name: hashlib.sha256(open(os.path.join(folder, name), "rb").read()).hexdigest()
        for name in sorted(os.listdir(folder))
        if ".tfrecord" in name or name in ("labels.txt", "errors.jsonl", "coverage.json")
    }


@pytest.mark.slow
def test_two_processes_with_other_hash_seeds_write_identical_bytes(tmp_path):
    manifest = make_dataset(
        str(tmp_path / "data"),
        SyntheticConfig(num_classes=2, clips_per_class=3, width=32, height=32, seed=11),
    )
    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / f"out{seed}"
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=REPO)
        done = subprocess.run(
            [sys.executable, "-m", "preprocess", f"--manifest={manifest}",
             f"--video_dir={tmp_path / 'data' / 'videos'}", f"--output_dir={out}",
             "--num_frames=4", "--size=32", "--direct_running_mode=in_memory",
             "--direct_num_workers=1"],
            env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        outputs.append(_digests(out))
    assert outputs[0] == outputs[1]
    assert any(".tfrecord" in name for name in outputs[0])
