"""Flags out of range at both CLIs: a clear message naming the flag, never a deep traceback."""

import math
import subprocess
import sys

import pytest
from absl import flags
from hypothesis import given, settings
from hypothesis import strategies as st

from preprocess import cli
from preprocess import flags as preprocess_flags
from tests.training.conftest import subprocess_env
from training import config as config_lib
from training.config import TrainConfig

BASE = ["--manifest=m.csv", "--output_dir=out"]


def preprocess_config(*args):
    parsed, _ = preprocess_flags.make_parser().parse_known_args([*BASE, *args])
    return preprocess_flags.config_from_args(parsed)


@pytest.mark.parametrize(
    "arg, message",
    [
        ("--num_frames=100000", "--num_frames must be <= 1000"),
        ("--size=0", "--size must be >= 1"),
        ("--size=1e3", "--size must be an integer"),
        ("--clip_timeout_s=-1", "--clip_timeout_s must be a finite number >= 0"),
        ("--clip_timeout_s=nan", "--clip_timeout_s must be a finite number >= 0"),
        ("--clip_timeout_s=inf", "--clip_timeout_s must be a finite number >= 0"),
        ("--clip_memory_mb=-1", "--clip_memory_mb must be >= 0"),
        ("--max_video_frames=x", "--max_video_frames must be an integer"),
        ("--decoder=ffmpeg", "--decoder must be one of pyav, decord"),
        ("--num_shards=0", "--num_shards must be >= 1"),
    ],
)
def test_preprocess_flags_out_of_range(arg, message, capsys):
    with pytest.raises(SystemExit) as e:
        preprocess_config(arg)
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_preprocess_decoder_that_cannot_be_imported_is_a_usage_error(tmp_path):
    message = "--decoder: decoder 'no_such.module:decode'"
    with pytest.raises(preprocess_flags.UsageError, match=message):
        cli.run([f"--manifest={tmp_path}", f"--output_dir={tmp_path / 'out'}",
                 "--decoder=no_such.module:decode"])  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(["num_frames", "size", "jpeg_quality", "target_shard_mb", "num_shards",
                          "clip_memory_mb", "max_video_frames", "clip_timeout_s"]),
    value=st.one_of(st.integers(-(2**70), 2**70), st.floats(allow_nan=True), st.text(max_size=8)),
)  # fmt: skip
def test_any_preprocess_flag_value_is_taken_or_refused_by_name(name, value):
    try:
        config = preprocess_config(f"--{name}={value}")
    except SystemExit as e:
        assert e.code == 2
        return
    except preprocess_flags.UsageError as e:
        assert f"--{name}" in str(e)
        return
    # Taken: the value is in range where it ends up.
    assert 1 <= config.schema.num_frames <= preprocess_flags.MAX_NUM_FRAMES
    assert 1 <= config.schema.size <= preprocess_flags.MAX_SIZE
    assert 1 <= config.schema.jpeg_quality <= 100
    assert config.target_shard_bytes > 0 and config.num_shards >= 0
    assert config.limits.timeout_s >= 0 and math.isfinite(config.limits.timeout_s)
    assert config.limits.memory_mb >= 0 and config.limits.max_video_frames >= 0


@settings(max_examples=80, deadline=None)
@given(
    name=st.sampled_from(["batch_size", "epochs", "steps_per_epoch", "validation_steps",
                          "shuffle_buffer", "checkpoint_every_steps", "learning_rate", "verbose"]),
    value=st.one_of(st.integers(-(2**70), 2**70), st.floats(allow_nan=True)),
)  # fmt: skip
def test_any_trainer_flag_value_is_taken_or_refused_by_name(name, value):
    fv = flags.FlagValues()
    config_lib.define_flags(fv)
    try:
        fv(["prog", "--tfrecord_glob=OUT/train-*", "--model_dir=RUN", f"--{name}={value}"])
        config = config_lib.from_flags(fv)
    except (flags.IllegalFlagValueError, ValueError) as e:
        assert name in str(e)
        return
    assert isinstance(config, TrainConfig)
    assert config.batch_size >= 1 and config.epochs >= 1 and config.learning_rate > 0
    assert math.isfinite(config.learning_rate)


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, message",
    [
        (["--tfrecord_glob=/no/such/folder/train-*", "--model_dir=RUN"],
         "error: shard glob '/no/such/folder/train-*' matches no file"),
        (["--tfrecord_glob=x", "--model_dir=RUN", "--learning_rate=inf"],
         "--learning_rate must be a finite number > 0"),
    ],
)  # fmt: skip
def test_trainer_cli_bad_input_is_one_clear_line(args, message, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "training", *args], cwd=tmp_path, env=subprocess_env(),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
