"""Same seed on CPU with deterministic ops → the same first-epoch loss, to the last bit."""

import csv
import os
import subprocess

import pytest

from tests.training.conftest import PYTHON, REPO, subprocess_env
from training import run_folder


def first_epoch_loss(model_dir):
    with open(os.path.join(model_dir, run_folder.METRICS_CSV)) as f:
        row = next(csv.DictReader(f))
    return row["loss"], row["accuracy"]


@pytest.mark.slow
def test_same_seed_same_first_epoch_loss(tmp_path, data_dir):
    runs = {"a": 7, "b": 7, "other_seed": 8}
    procs = {
        name: subprocess.Popen(
            [
                PYTHON,
                "-m",
                "training",
                f"--tfrecord_glob={data_dir}/train-*",
                f"--model_dir={tmp_path / name}",
                "--batch_size=4",
                "--epochs=1",
                "--steps_per_epoch=4",
                "--verbose=0",
                "--deterministic",
                f"--seed={seed}",
            ],
            cwd=REPO,
            env=subprocess_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        for name, seed in runs.items()
    }
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-3000:]
    losses = {name: first_epoch_loss(tmp_path / name) for name in runs}
    assert losses["a"] == losses["b"], "same seed, same data: the same loss as text, every digit"
    assert losses["a"][0] != losses["other_seed"][0], "the seed must matter"
