"""Flags and config: bad values fail at start, naming the flag."""

import pytest
from absl import flags

from training import config as config_lib
from training.config import TrainConfig


def parse(*args):
    fv = flags.FlagValues()
    config_lib.define_flags(fv)
    fv(["prog", "--tfrecord_glob=OUT/train-*", "--model_dir=RUN", *args])
    return config_lib.from_flags(fv)


def test_defaults_are_the_published_run():
    config = parse()
    assert (config.batch_size, config.epochs, config.learning_rate) == (2, 2, 1e-3)
    assert config.strategy == "auto" and config.mixed_precision == "none"


@pytest.mark.parametrize(
    "arg, flag",
    [
        ("--batch_size=0", "batch_size"),
        ("--epochs=-1", "epochs"),
        ("--strategy=tpu", "strategy"),
        ("--mixed_precision=fp8", "mixed_precision"),
        ("--learning_rate=0", "learning_rate"),
        ("--checkpoint_every_steps=-5", "checkpoint_every_steps"),
        ("--shuffle_buffer=-1", "shuffle_buffer"),
    ],
)
def test_invalid_flag_values_name_the_flag(arg, flag):
    with pytest.raises(flags.IllegalFlagValueError, match=flag):
        parse(arg)


def test_required_flags():
    fv = flags.FlagValues()
    config_lib.define_flags(fv)
    with pytest.raises(flags.IllegalFlagValueError, match="model_dir"):
        fv(["prog", "--tfrecord_glob=x"])


def test_help_says_the_batch_is_global():
    fv = flags.FlagValues()
    config_lib.define_flags(fv)
    assert "GLOBAL batch size" in fv["batch_size"].help


def test_config_checks_its_own_values():
    with pytest.raises(ValueError, match="--batch_size"):
        TrainConfig(tfrecord_glob="x", model_dir="y", batch_size=0)
    with pytest.raises(ValueError, match="--model_dir"):
        TrainConfig(tfrecord_glob="x", model_dir="")
    with pytest.raises(ValueError, match="--strategy"):
        TrainConfig(tfrecord_glob="x", model_dir="y", strategy="many")
