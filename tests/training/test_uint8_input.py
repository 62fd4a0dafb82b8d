"""uint8 clips into the model: same probabilities as the float path, and older runs still work.

The model scales uint8 clips with its own Rescaling input layer (training.model). Runs saved
before that took float32 clips in [0, 1]; they are built here with the old architecture
(`build_model_v1`, the old build function) and saved as the old code saved them.
"""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.training.shards import NUM_FRAMES, SIZE
from training import evaluate, input_pipeline, predict, run_folder, shard_source
from training.model import accept_uint8, build_model, build_model_v1, takes_uint8


def float_path(frames):
    """What the input pipeline fed the model before: uint8 → float32 in [0, 1]."""
    return tf.image.convert_image_dtype(tf.convert_to_tensor(frames), tf.float32)


def old_model(num_labels=3):
    """A v1 model with weights that tell clips apart (fresh weights give ~uniform outputs)."""
    keras.utils.set_random_seed(0)
    model = build_model_v1(num_labels, NUM_FRAMES, SIZE)
    dense = model.get_layer("probs")
    kernel, bias = dense.get_weights()
    dense.set_weights([kernel * 300.0, bias])
    return model


def clips(n=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, NUM_FRAMES, SIZE, SIZE, 3), np.uint8)


def test_the_model_takes_uint8_and_scales_it_without_parameters():
    model = build_model(3, NUM_FRAMES, SIZE)
    assert takes_uint8(model) and not takes_uint8(build_model_v1(3, NUM_FRAMES, SIZE))
    assert isinstance(model.layers[1], keras.layers.Rescaling)
    assert model.layers[1].count_params() == 0
    assert len(model.weights) == len(build_model_v1(3, NUM_FRAMES, SIZE).weights)


def test_uint8_in_gives_the_probabilities_of_the_float_path_with_the_same_weights():
    old = old_model()
    new = build_model(3, NUM_FRAMES, SIZE)
    new.set_weights(old.get_weights())
    x = clips()
    expected = old(float_path(x), training=False).numpy()
    got = new(x, training=False).numpy()
    # Same float32 arithmetic (x * 1/255), so the same bits, not just close.
    np.testing.assert_array_equal(got, expected)
    assert np.ptp(expected[:, 0]) > 1e-3  # the clips really get different answers


def test_rescaling_stays_float32_under_mixed_bfloat16():
    """uint8 → float32 → the first ConvLSTM2D's bfloat16 cast, as float32 input was before."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = build_model(3, NUM_FRAMES, SIZE)
    finally:
        keras.config.set_dtype_policy(previous)
    assert model.get_layer("rescale").compute_dtype == "float32"
    assert model.get_layer("conv_lstm_1").compute_dtype == "bfloat16"


@pytest.fixture(scope="module")
def old_run(tmp_path_factory, data_dir):
    """A run folder as the old code left it: a float-input model.keras, dataset.json, labels."""
    run = str(tmp_path_factory.mktemp("old_run"))
    run_folder.copy_dataset_files(data_dir, run)
    model = old_model()
    model.save(os.path.join(run, run_folder.MODEL_KERAS))
    return run, model


def test_an_old_run_loads_and_predicts_on_uint8_as_it_did_on_float(old_run, data_dir):
    run, old = old_run
    model, labels, info = run_folder.load_run(run)
    assert takes_uint8(model) and labels == ["gloss0", "gloss1", "gloss2"]
    source = shard_source.open_source(f"{data_dir}/val-*")
    frames, _ = next(iter(input_pipeline.make_dataset(source.files, info, 4, training=False)))
    assert frames.dtype == tf.uint8  # one path: the pipeline's uint8 batches go to any model
    expected = old(float_path(frames), training=False).numpy()
    np.testing.assert_array_equal(model(frames, training=False).numpy(), expected)
    # predict's path (one clip at a time) gives the same.
    np.testing.assert_allclose(predict.probabilities(model, frames[0]), expected[0], atol=1e-6)


def test_an_old_run_evaluates_as_it_did_on_float(old_run, data_dir):
    run, old = old_run
    metrics = evaluate.evaluate(run, f"{data_dir}/val-*", batch_size=4)
    source = shard_source.open_source(f"{data_dir}/val-*")
    data = input_pipeline.make_dataset(source.files, source.info, 4, training=False)
    losses = [
        keras.losses.sparse_categorical_crossentropy(y, old(float_path(x), training=False))
        for x, y in data
    ]
    assert metrics["num_examples"] == 9
    assert metrics["loss"] == pytest.approx(float(np.concatenate(losses).mean()), rel=1e-5)


def test_an_old_model_exports_a_uint8_saved_model(old_run, tmp_path):
    _, old = old_run
    run_folder.export_saved_model(old, str(tmp_path / "saved_model"))
    served = tf.saved_model.load(str(tmp_path / "saved_model")).signatures["serving_default"]
    x = clips(2, seed=1)
    got = served(clips=tf.constant(x))["probabilities"].numpy()
    np.testing.assert_allclose(got, old(float_path(x), training=False).numpy(), atol=1e-6)


def test_accept_uint8_refuses_what_is_not_a_clip_classifier():
    inputs = keras.Input((4,))
    with pytest.raises(ValueError, match="one \\(N, T, S, S, 3\\) input"):
        accept_uint8(keras.Model(inputs, keras.layers.Dense(2)(inputs)))
