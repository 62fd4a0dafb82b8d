"""Resuming from RUN/backup/ when the newest checkpoint's files are damaged: the newest intact
one is used and the damaged one named; with none intact, one error line names the files."""

import logging
import os
import shutil
import subprocess

import pytest

from tests.training.conftest import PYTHON, REPO, subprocess_env
from training import checkpointing, run_folder, trainer
from training.config import TrainConfig
from training.model import build_model
from training.optimization import compile_model

DATA = ".data-00000-of-00001"


def config_for(data_dir, model_dir, **kw):
    """4 steps, a checkpoint every 2: RUN/backup/ keeps ckpt-2 and ckpt-4."""
    defaults = dict(
        tfrecord_glob=f"{data_dir}/train-*", model_dir=str(model_dir), batch_size=4, epochs=1,
        steps_per_epoch=4, verbose=0, strategy="one_device", checkpoint_every_steps=2,
    )  # fmt: skip
    return TrainConfig(**{**defaults, **kw})


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, data_dir):
    model_dir = tmp_path_factory.mktemp("checkpointed")
    trainer.train(config_for(data_dir, model_dir))
    return str(model_dir)


@pytest.fixture
def run_copy(finished_run, tmp_path):
    """A copy of the finished run to damage; returns (run folder, its backup folder)."""
    model_dir = str(tmp_path / "run")
    shutil.copytree(finished_run, model_dir)
    backup = os.path.join(model_dir, run_folder.BACKUP_DIR)
    assert sorted(f for f in os.listdir(backup) if f.endswith(".index")) == [
        "ckpt-2.index",
        "ckpt-4.index",
    ]
    return model_dir, backup


def truncate(path):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


def empty(path):
    open(path, "wb").close()


def flip_a_byte(path):
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))


def restore(backup, num_classes=3):
    model = build_model(num_classes, 4, 48)
    compile_model(model)
    state = checkpointing.TrainState(model, backup, every_steps=2)
    return state, state.restore()


DAMAGES = [
    (truncate, DATA, "truncated"),
    (empty, ".index", "unreadable"),
    (flip_a_byte, DATA, "fails its checksum"),
]


@pytest.mark.parametrize("damage, suffix, words", DAMAGES, ids=["truncated", "empty", "flipped"])
def test_a_damaged_newest_checkpoint_is_named_and_the_one_before_it_used(
    run_copy, caplog, damage, suffix, words
):
    _, backup = run_copy
    damaged = os.path.join(backup, "ckpt-4" + suffix)
    damage(damaged)
    with caplog.at_level(logging.WARNING, logger=checkpointing.__name__):
        state, step = restore(backup)
    assert step == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert damaged in warnings[0] and words in warnings[0], warnings[0]
    assert os.path.join(backup, "ckpt-2") in warnings[0]  # where it resumes from instead
    # ckpt-2, saved again, is now the newest: the next resume neither tries ckpt-4 nor warns.
    assert state.manager.latest_checkpoint == os.path.join(backup, "ckpt-2")
    assert checkpointing.latest_step(backup) == 2
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=checkpointing.__name__):
        assert restore(backup)[1] == 2
    assert not caplog.records


@pytest.mark.parametrize("damage", [empty, flip_a_byte], ids=["empty", "garbled"])
def test_without_the_list_of_checkpoints_the_files_are_found(run_copy, caplog, damage):
    _, backup = run_copy
    listing = os.path.join(backup, "checkpoint")
    # TensorFlow fails on an empty list and ignores a garbled one: the run would start over.
    damage(listing)
    assert checkpointing.latest_step(backup) == 4
    with caplog.at_level(logging.WARNING, logger=checkpointing.__name__):
        state, step = restore(backup)
    assert step == 4
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and listing in warnings[0], warnings
    assert os.path.exists(listing + ".unreadable")
    assert state.manager.latest_checkpoint == os.path.join(backup, "ckpt-4")  # listed again


def test_a_resumed_run_replaces_the_damaged_checkpoint_and_finishes(run_copy, data_dir):
    model_dir, backup = run_copy
    truncate(os.path.join(backup, "ckpt-4" + DATA))
    summary = trainer.train(config_for(data_dir, model_dir))
    assert summary["resumed_from_step"] == 2 and summary["global_step"] == 4
    for name in ("ckpt-2", "ckpt-4"):  # steps 3 and 4 trained again; ckpt-4 rewritten whole
        assert checkpointing.damage(os.path.join(backup, name)) is None
    assert restore(backup)[1] == 4


def test_with_every_checkpoint_damaged_the_command_fails_naming_the_files(run_copy, data_dir):
    model_dir, backup = run_copy
    truncate(os.path.join(backup, "ckpt-4" + DATA))
    flip_a_byte(os.path.join(backup, "ckpt-2" + DATA))
    before = sorted(os.listdir(backup))
    proc = subprocess.run(
        [PYTHON, "-m", "training", f"--tfrecord_glob={data_dir}/train-*",
         f"--model_dir={model_dir}", "--batch_size=4", "--epochs=1", "--steps_per_epoch=4",
         "--checkpoint_every_steps=2", "--verbose=0"],
        cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-3000:]  # a damaged file: bad input, as for shards
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    for name, words in (("ckpt-4", "truncated"), ("ckpt-2", "fails its checksum")):
        assert os.path.join(backup, name + DATA) in errors[0] and words in errors[0], errors[0]
    assert "another model" not in errors[0]
    assert sorted(os.listdir(backup)) == before  # nothing deleted or rewritten


def test_an_intact_checkpoint_of_another_model_is_reported_as_such(run_copy):
    _, backup = run_copy
    with pytest.raises(ValueError, match="ckpt-4: cannot restore .*another model") as raised:
        restore(backup, num_classes=5)
    assert not isinstance(raised.value, checkpointing.DamagedCheckpointError)
