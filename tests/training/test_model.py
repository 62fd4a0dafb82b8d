"""The network as published: parameter counts and the output shape of every block."""

import keras
import numpy as np
import pytest

from training.model import build_model
from training.optimization import compile_model


def trainable_params(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_wlasl2000_has_the_published_parameter_count():
    assert trainable_params(build_model(2000)) == 31_395_000


@pytest.mark.parametrize("num_classes", [1, 7, 100])
def test_parameter_count_follows_the_formula(num_classes):
    assert trainable_params(build_model(num_classes)) == 33_000 + 15_681 * num_classes


def test_block_output_shapes_at_20x150():
    model = build_model(100)
    shapes = {layer.name: tuple(layer.output.shape) for layer in model.layers}
    expected = {
        "conv_lstm_1": (None, 20, 148, 148, 4),
        "pool_1": (None, 20, 74, 74, 4),
        "dropout_1": (None, 20, 74, 74, 4),
        "conv_lstm_2": (None, 20, 72, 72, 8),
        "pool_2": (None, 20, 36, 36, 8),
        "dropout_2": (None, 20, 36, 36, 8),
        "conv_lstm_3": (None, 20, 34, 34, 14),
        "pool_3": (None, 20, 17, 17, 14),
        "dropout_3": (None, 20, 17, 17, 14),
        "conv_lstm_4": (None, 20, 15, 15, 16),
        "pool_4": (None, 20, 7, 7, 16),
        "flatten": (None, 15_680),
        "probs": (None, 100),
    }
    assert {k: shapes[k] for k in expected} == expected
    assert "dropout_4" not in shapes


def test_layers_are_configured_as_published():
    model = build_model(5)
    lstms = [x for x in model.layers if isinstance(x, keras.layers.ConvLSTM2D)]
    assert [x.filters for x in lstms] == [4, 8, 14, 16]
    for layer in lstms:
        assert layer.kernel_size == (3, 3)
        assert layer.padding == "valid"
        assert layer.return_sequences
        assert layer.recurrent_dropout == pytest.approx(0.2)
        assert layer.activation.__name__ == "tanh"
    pools = [x for x in model.layers if isinstance(x, keras.layers.MaxPooling3D)]
    assert [x.pool_size for x in pools] == [(1, 2, 2)] * 4
    drops = [x for x in model.layers if isinstance(x, keras.layers.TimeDistributed)]
    assert [x.layer.rate for x in drops] == pytest.approx([0.2] * 3)
    assert model.layers[-1].activation is keras.activations.softmax


def test_small_clips_run_and_give_probabilities():
    model = compile_model(build_model(3, num_frames=4, size=48))
    probs = model(np.random.default_rng(0).integers(0, 256, (2, 4, 48, 48, 3), dtype=np.uint8))
    assert probs.shape == (2, 3)
    np.testing.assert_allclose(np.sum(probs, axis=1), 1.0, rtol=1e-5)
    assert model.optimizer.learning_rate.numpy() == pytest.approx(1e-3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_classes": 0}, "num_classes"),
        ({"num_classes": 3, "size": 45}, "size"),
        ({"num_classes": 3, "num_frames": 0}, "num_frames"),
        ({"num_classes": 3, "dropout": 1.0}, "dropout"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_model(**kwargs)
