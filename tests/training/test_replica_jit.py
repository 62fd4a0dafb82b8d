"""--jit_compile under MirroredStrategy (2 logical CPUs): XLA runs inside each replica.

Keras 3.15's own XLA step wraps `strategy.run` and fails under MirroredStrategy (variables on
another device); training.replica_jit compiles each replica's forward and backward pass instead.
"""

import json
import subprocess

import pytest

from tests.training.conftest import PYTHON, REPO, subprocess_env
from training.model import build_model, compile_model


def test_without_a_mirrored_strategy_keras_own_xla_step_is_kept():
    model = compile_model(build_model(3, 4, 48), jit_compile=True)
    assert model.jit_compile is True and not hasattr(model.train_step, "xla_function")
    model = compile_model(build_model(3, 4, 48))
    assert model.jit_compile is False and not hasattr(model.train_step, "xla_function")


@pytest.mark.slow
def test_jit_compile_under_mirrored_strategy_gives_the_plain_step(tmp_path, two_frame_data_dir):
    out = tmp_path / "xla.json"
    done = subprocess.run(
        [PYTHON, "-m", "tests.training.xla_driver", f"--glob={two_frame_data_dir}/train-*",
         f"--out={out}"],
        cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["replicas"] == 2
    assert result["xla_traces"] >= 1  # fit called the XLA-compiled forward/backward
    # Two steps of the same batch: same logs, same weights as without XLA (float rounding only).
    assert result["jit_logs"]["loss"] == pytest.approx(result["logs"]["loss"], rel=1e-4)
    assert result["jit_logs"]["accuracy"] == pytest.approx(result["logs"]["accuracy"])
    assert result["max_weight_change"] > 1e-4  # the steps moved the weights...
    assert result["max_weight_diff"] < 1e-5  # ...and XLA moved them alike
