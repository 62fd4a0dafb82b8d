"""Shared fixtures of the training tests: tiny real shards, quiet TensorFlow subprocesses."""

import os
import sys

import pytest

from tests.training.shards import write_shards

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def subprocess_env(**extra) -> dict:
    """Environment for `python -m ...` children: repo importable, TensorFlow logs quiet."""
    env = dict(os.environ)
    env.update(
        PYTHONPATH=REPO + os.pathsep + env.get("PYTHONPATH", ""),
        TF_CPP_MIN_LOG_LEVEL="3",
        CUDA_VISIBLE_DEVICES="",
        PYTHONWARNINGS="ignore",
    )
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


PYTHON = sys.executable


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """train (24 clips, 2 shards) and val (9 clips, 1 shard) of 3 classes, 4 frames of 48x48."""
    folder = str(tmp_path_factory.mktemp("data"))
    write_shards(folder, num_examples=24, num_labels=3, split="train", num_shards=2, seed=0)
    write_shards(folder, num_examples=9, num_labels=3, split="val", num_shards=1, seed=1)
    return folder


@pytest.fixture(scope="session")
def two_frame_data_dir(tmp_path_factory):
    """train (12 clips, 2 shards) of 3 classes, 2 frames of 46x46: for the XLA tests.

    XLA unrolls the ConvLSTM2D time loop, so its CPU compile time grows with the frames (about
    47 s at 4 frames, 26 s at 2 for test_replica_jit's step). Two frames still run the recurrence
    (the second step reads the first one's state); 46 is the smallest side the model takes.
    """
    folder = str(tmp_path_factory.mktemp("data_two_frames"))
    write_shards(folder, num_examples=12, num_labels=3, split="train", num_shards=2, num_frames=2,
                 size=46, seed=2)  # fmt: skip
    return folder
