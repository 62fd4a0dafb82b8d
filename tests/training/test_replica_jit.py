"""--jit_compile under MirroredStrategy (2 logical CPUs): XLA runs inside each replica.

Keras 3.15's own XLA step wraps `strategy.run` and fails under MirroredStrategy (variables on
another device); training.replica_jit compiles each replica's forward and backward pass instead.
"""

import json
import subprocess

import pytest

from tests.training.conftest import PYTHON, REPO, subprocess_env
from training.model import build_model
from training.optimization import compile_model


def test_without_a_mirrored_strategy_keras_own_xla_step_is_kept():
    model = compile_model(build_model(3, 4, 48), jit_compile=True)
    assert model.jit_compile is True and not hasattr(model.train_step, "xla_function")
    model = compile_model(build_model(3, 4, 48))
    assert model.jit_compile is False and not hasattr(model.train_step, "xla_function")


@pytest.fixture(scope="module")
def xla_steps(tmp_path_factory, two_frame_data_dir):
    """Four steps on one batch: replica_jit under MirroredStrategy, Keras' XLA on one device."""
    out = tmp_path_factory.mktemp("xla") / "xla.json"
    done = subprocess.run(
        [PYTHON, "-m", "tests.training.xla_driver", f"--glob={two_frame_data_dir}/train-*",
         f"--out={out}", "--steps=4"],
        cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.slow
def test_jit_compile_under_mirrored_strategy_gives_keras_own_xla_step(xla_steps):
    result = xla_steps
    assert result["replicas"] == 2 and result["keras_xla_jit_compile"] is True
    assert result["xla_traces"] >= 1  # fit called the XLA-compiled forward/backward
    # The same XLA kernels, the batch split over two replicas: float rounding of the all-reduce
    # only. (Not compared with the non-XLA step: that gap depends on the CPU; see xla_driver.)
    jit, reference = result["jit_logs"], result["keras_xla_logs"]
    assert jit["loss"] == pytest.approx(reference["loss"], rel=1e-5)
    assert jit["accuracy"] == reference["accuracy"]
    assert result["max_weight_diff"] < 1e-5, "replica_jit moved the weights unlike Keras' XLA step"


@pytest.mark.slow
def test_the_xla_step_trains(xla_steps):
    losses = xla_steps["jit_logs"]["loss"]
    assert xla_steps["max_weight_change"] > 1e-3  # four Adam steps of 1e-3 moved the weights
    # Each step on the same batch lowers its loss; the first loss is untrained (about log 3).
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    assert losses[-1] < losses[0] - 1e-3, losses
