"""The trainer run as a user runs it (`python -m training`), for the tests that need a real run."""

import json
import os
import subprocess

from tests.training.conftest import PYTHON, REPO, subprocess_env
from training import run_folder


def train_command(data_dir, model_dir, *extra):
    return [
        PYTHON, "-m", "training", f"--tfrecord_glob={data_dir}/train-*",
        f"--model_dir={model_dir}", "--batch_size=4", "--verbose=0", *extra,
    ]  # fmt: skip


def run(cmd, timeout=180):
    proc = subprocess.run(
        cmd, cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


def summary_of(model_dir):
    with open(os.path.join(model_dir, run_folder.SUMMARY_JSON)) as f:
        return json.load(f)
