"""Damaged shards, and a dataset.json disagreeing with the run: clear errors, or --skip_corrupt."""

import json
import logging
import os
import struct
import subprocess

import pytest

from tests.training.conftest import PYTHON, REPO, subprocess_env
from tests.training.shards import write_shards
from training import run_folder, shard_source, trainer
from training.config import TrainConfig
from training.evaluate import evaluate


def record_offsets(path):
    """Byte offset of each record of an uncompressed TFRecord file (length, CRC, data, CRC)."""
    data = open(path, "rb").read()
    offsets, pos = [], 0
    while pos < len(data):
        offsets.append(pos)
        pos += 8 + 4 + struct.unpack("<Q", data[pos : pos + 8])[0] + 4
    return offsets


def flip_byte(path, record):
    """Flips a bit inside record `record`'s data; returns the offset TensorFlow reports.

    For a data CRC mismatch that is where the record's data starts (after length and its CRC).
    """
    offset = record_offsets(path)[record] + 8 + 4
    data = bytearray(open(path, "rb").read())
    data[offset + 30] ^= 0x01
    open(path, "wb").write(bytes(data))
    return offset


def cut_tail(path, record):
    offset = record_offsets(path)[record]
    data = open(path, "rb").read()
    open(path, "wb").write(data[: offset + 20])  # record `record` is cut short
    return offset


def config(data, model_dir, **kwargs):
    defaults = dict(batch_size=2, epochs=1, shuffle_buffer=0, verbose=0, strategy="one_device")
    return TrainConfig(
        tfrecord_glob=f"{data}/train-*", model_dir=str(model_dir), **{**defaults, **kwargs}
    )


@pytest.fixture
def flipped(tmp_path):
    """train: 2 shards of 6 clips; record 3 of shard 1 has a flipped byte."""
    data = str(tmp_path / "data")
    paths = write_shards(data, num_examples=12, num_labels=3, num_shards=2)
    return data, paths[1], flip_byte(paths[1], 3)


def test_flipped_byte_stops_training_naming_shard_and_offset(flipped, tmp_path):
    data, shard, offset = flipped
    with pytest.raises(shard_source.CorruptShardError) as e:
        trainer.train(config(data, tmp_path / "run"))
    message = str(e.value)
    assert f"{shard}: damaged record at byte {offset}, after 3 good records" in message
    assert "corrupted record" in message and "--skip_corrupt" in message
    assert "train-00000-of-00002" not in message, "only the damaged shard is named"


def test_skip_corrupt_counts_what_it_leaves_out_and_trains_on(flipped, tmp_path, caplog):
    data, shard, offset = flipped
    with caplog.at_level(logging.WARNING):
        summary = trainer.train(config(data, tmp_path / "run", skip_corrupt=True))
    warning = "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "--skip_corrupt: 1 damaged shard(s); 3 records skipped, 9 of 12 kept" in warning
    assert f"{shard}: damaged record at byte {offset}" in warning
    assert summary["num_train_examples"] == 9
    assert summary["global_step"] == 4  # 9 // 2: the epoch is the readable records


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A one-step run on 3 classes of (4, 48, 48, 3) clips, and its data (train and val)."""
    data = str(tmp_path_factory.mktemp("data"))
    write_shards(data, num_examples=12, num_labels=3, num_shards=2)
    write_shards(data, num_examples=6, num_labels=3, split="val", num_shards=1, seed=1)
    model_dir = tmp_path_factory.mktemp("run")
    trainer.train(config(data, model_dir, steps_per_epoch=1))
    return data, str(model_dir)


@pytest.fixture
def cut_val(finished_run, tmp_path):
    """A copy of the val split whose only shard is cut inside record 4."""
    data, _ = finished_run
    copy = tmp_path / "cut"
    copy.mkdir()
    for name in os.listdir(data):
        if name.startswith("val-") or name in ("dataset.json", "labels.txt"):
            (copy / name).write_bytes(open(os.path.join(data, name), "rb").read())
    (val,) = [str(p) for p in copy.glob("val-*")]
    return str(copy), val, cut_tail(val, 4)


def test_cut_tail_fails_evaluate_naming_the_shard_and_skips_with_the_flag(finished_run, cut_val):
    _, model_dir = finished_run
    data, val, offset = cut_val
    with pytest.raises(shard_source.CorruptShardError, match=f"{val}: damaged record at byte "
                       f"{offset}, after 4 good records .*truncated record"):  # fmt: skip
        evaluate(model_dir, f"{data}/val-*")
    metrics = evaluate(model_dir, f"{data}/val-*", skip_corrupt=True)
    assert metrics["num_examples"] == 4


@pytest.mark.slow
def test_evaluate_cli_names_the_damaged_shard_without_a_traceback(finished_run, cut_val):
    _, model_dir = finished_run
    data, val, offset = cut_val
    proc = subprocess.run(
        [PYTHON, "-m", "training.evaluate", f"--model_dir={model_dir}",
         f"--tfrecord_glob={data}/val-*"],
        cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert f"error: 1 damaged shard(s): {val}: damaged record at byte {offset}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_damaged_first_record_is_caught_before_training(tmp_path):
    data = str(tmp_path / "data")
    paths = write_shards(data, num_examples=8, num_labels=3, num_shards=2)
    flip_byte(paths[0], 0)
    source = shard_source.open_source(f"{data}/train-*")
    with pytest.raises(shard_source.CorruptShardError, match=f"{paths[0]}: damaged record at "
                       "byte 12, after 0 good records"):  # fmt: skip
        shard_source.check_shards(source)
    skipped = shard_source.open_source(f"{data}/train-*", skip_corrupt=True)
    assert skipped.files == (paths[1],) and skipped.num_examples == 4
    shard_source.check_shards(skipped)


def test_resuming_on_data_of_another_format_fails_before_the_first_step(finished_run, tmp_path):
    _, model_dir = finished_run
    backup = os.path.join(model_dir, run_folder.BACKUP_DIR, "checkpoint")
    before = open(backup).read()
    for other, difference in [
        (dict(num_labels=5), "5 classes vs 3"),
        (dict(size=50), r"clips \(4, 50, 50, 3\) vs \(4, 48, 48, 3\)"),
    ]:
        data = str(tmp_path / f"other{len(difference)}")
        write_shards(data, **{"num_examples": 8, "num_labels": 3, **other})
        with pytest.raises(ValueError, match=f"the shards in {data} do not match the run in "
                           f"{model_dir}: {difference}"):  # fmt: skip
            trainer.train(config(data, model_dir, steps_per_epoch=1, epochs=3))
    assert open(backup).read() == before, "no step was taken"
    with open(os.path.join(model_dir, "dataset.json")) as f:
        assert json.load(f)["num_labels"] == 3, "the run's own dataset.json is kept"
