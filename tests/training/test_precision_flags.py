"""--mixed_precision and --jit_compile train for real on CPU and leave a float32-output model."""

import json
import os

import keras
import numpy as np
import pytest

from tests.training.runs import run, summary_of, train_command
from training import run_folder


@pytest.mark.slow
@pytest.mark.parametrize(
    "flags",
    [["--mixed_precision=mixed_bfloat16"], ["--jit_compile"]],
    ids=["bfloat16", "xla"],
)
def test_precision_and_xla_flags_train_and_export(tmp_path, two_frame_data_dir, flags):
    # Two-frame clips: XLA unrolls the ConvLSTM2D time loop, so fewer frames compile faster.
    model_dir = str(tmp_path / "run")
    run(train_command(two_frame_data_dir, model_dir, "--epochs=1", "--steps_per_epoch=2", *flags))
    summary = summary_of(model_dir)
    assert summary["global_step"] == 2
    assert np.isfinite(summary["last_epoch_metrics"]["loss"])
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    if "mixed" in flags[0]:
        assert config["mixed_precision"] == flags[0].split("=")[1]
    else:
        assert config["jit_compile"] is True
    model = keras.models.load_model(os.path.join(model_dir, run_folder.MODEL_KERAS))
    # Probabilities stay float32 whatever the compute dtype: float16 softmax underflows.
    assert model.output.dtype == "float32"
    if "mixed" in flags[0]:
        assert model.get_layer("conv_lstm_1").compute_dtype == flags[0].split("_")[-1]


def test_float16_without_a_gpu_is_refused_before_the_first_step(tmp_path, data_dir):
    """TensorFlow has no float16 MaxPool3D kernel on CPU: say so instead of failing mid-step."""
    from training import trainer
    from training.config import TrainConfig

    config = TrainConfig(
        tfrecord_glob=f"{data_dir}/train-*", model_dir=str(tmp_path / "run"),
        mixed_precision="mixed_float16", batch_size=4,
    )  # fmt: skip
    with pytest.raises(ValueError, match="--mixed_precision=mixed_float16 needs a GPU"):
        trainer.train(config)
    assert not (tmp_path / "run").exists()
