"""The GPU proxy (benchmarks.gpu_proxy) and its fused-gates ConvLSTM2D variant.

Runs under either Keras backend and imports no TensorFlow at module level, so it also runs in a
JAX-only environment (BENCHMARKS.md: `KERAS_BACKEND=jax JAXVENV/bin/python -m pytest
tests/test_gpu_proxy.py`). The quick run of the script needs JAX: in this interpreter, or in the
one GPU_PROXY_PYTHON names; it is skipped otherwise.
"""

import importlib.util
import json
import math
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from benchmarks.fused_convlstm import FusedConvLSTM2D, fused_copy
from training.model import build_model

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "scripts", "gpu_proxy.py")


def _clips(n=2, frames=4, size=48, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, frames, size, size, 3), np.uint8)


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _gradients(model, x, y):
    """d(loss)/d(weights), on whichever backend Keras runs."""
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        return [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]
    import jax

    def loss_of(trainable):
        probs, _ = model.stateless_call(
            trainable, [v.value for v in model.non_trainable_variables], x, training=True
        )
        return loss_fn(y, probs)

    return [np.asarray(g) for g in jax.grad(loss_of)([v.value for v in model.trainable_variables])]


def test_fused_variant_has_the_stock_weights_and_outputs():
    keras.utils.set_random_seed(0)
    stock = build_model(3, 4, 48)  # published dropout: inactive at inference
    fused = fused_copy(stock)
    fused_layers = [x for x in fused.layers if isinstance(x, FusedConvLSTM2D)]
    assert len(fused_layers) == 4 and not any(
        isinstance(x, keras.layers.ConvLSTM2D) for x in fused.layers
    )
    assert [w.shape for w in fused.weights] == [w.shape for w in stock.weights]
    for a, b in zip(fused.get_weights(), stock.get_weights()):
        np.testing.assert_array_equal(a, b)
    x = _clips()
    expected = _numpy(stock(x, training=False))
    np.testing.assert_allclose(_numpy(fused(x, training=False)), expected, rtol=0, atol=1e-6)
    # Every block, not only the softmax (which could hide differences).
    for name in ("conv_lstm_1", "conv_lstm_4"):
        outs = [_numpy(keras.Model(m.inputs, m.get_layer(name).output)(x)) for m in (stock, fused)]
        scale = np.abs(outs[0]).max()  # the last block's outputs are small (~1e-3)
        assert scale > 0 and np.std(outs[0]) > scale * 1e-2
        np.testing.assert_allclose(outs[1], outs[0], rtol=0, atol=scale * 1e-4)


def test_fused_variant_has_the_stock_gradients_without_dropout():
    keras.utils.set_random_seed(1)
    stock = build_model(3, 4, 48, dropout=0.0, recurrent_dropout=0.0)
    fused = fused_copy(stock)
    x, y = _clips(seed=1), np.array([0, 2])
    for g_fused, g_stock in zip(_gradients(fused, x, y), _gradients(stock, x, y)):
        np.testing.assert_allclose(g_fused, g_stock, rtol=1e-4, atol=1e-6)


def test_fused_variant_applies_recurrent_dropout_in_training_only():
    keras.utils.set_random_seed(2)
    fused = fused_copy(build_model(3, 4, 48, dropout=0.0, recurrent_dropout=0.5))
    block = keras.Model(fused.inputs, fused.get_layer("conv_lstm_1").output)
    x = _clips(seed=2)
    inference = _numpy(block(x, training=False))
    np.testing.assert_array_equal(_numpy(block(x, training=False)), inference)
    assert np.abs(_numpy(block(x, training=True)) - inference).max() > 1e-3


def test_fused_variant_refuses_settings_it_does_not_implement():
    inputs = keras.Input((4, 48, 48, 3))
    strided = keras.layers.ConvLSTM2D(4, 3, strides=2, return_sequences=True)
    keras.Model(inputs, strided(inputs))
    with pytest.raises(ValueError, match="strides"):
        FusedConvLSTM2D.like(strided)


def test_gpu_proxy_refuses_the_tensorflow_backend():
    from benchmarks import gpu_proxy

    if keras.backend.backend() == "jax":
        pytest.skip("Keras already runs on JAX in this process")
    with pytest.raises(ValueError, match="KERAS_BACKEND=jax"):
        gpu_proxy.run_gpu(gpu_proxy.GpuBenchConfig(tiny=True))


def _jax_python():
    if importlib.util.find_spec("jax") is not None:
        return sys.executable
    return os.environ.get("GPU_PROXY_PYTHON", "")


@pytest.mark.slow
@pytest.mark.skipif(
    not _jax_python(),
    reason="jax is not installed here and GPU_PROXY_PYTHON is unset: the GPU proxy runs Keras "
    "on JAX (BENCHMARKS.md)",
)
def test_quick_run_measures_every_setting(tmp_path):
    json_out = tmp_path / "gpu.json"
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=REPO, JAX_PLATFORMS="cpu")
    done = subprocess.run(
        [_jax_python(), SCRIPT, "--quick", "--batch_sizes=2", f"--json_out={json_out}"],
        env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "tensorflow" not in done.stderr.lower()  # nothing imported TensorFlow
    result = json.loads(json_out.read_text())
    got = {(r["variant"], r["batch_size"], r["precision"]) for r in result["results"]}
    assert got == {(v, 2, p) for v in ("stock", "fused") for p in ("float32", "bfloat16")}
    for r in result["results"]:
        assert "error" not in r, r
        assert math.isfinite(r["clips_per_s"]) and r["clips_per_s"] > 0, r
        assert r["x_original"] == pytest.approx(r["clips_per_s"] / 2.0)
    assert result["versions"]["keras"] and result["device"]["platform"] == "cpu"
    ratios = result["ratios"]
    assert any(name.startswith("fused / stock") for name in ratios)
    for name, r in ratios.items():
        assert math.isclose(r["value"], r["numerator"] / r["denominator"], rel_tol=1e-9), name
        assert name in done.stdout
