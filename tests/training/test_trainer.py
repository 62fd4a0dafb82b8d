"""The trainer end to end: CLI smoke run, run folder, SavedModel, evaluate, SIGKILL and resume."""

import csv
import json
import os
import signal
import subprocess
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.training.conftest import PYTHON, REPO, subprocess_env
from tests.training.runs import run, summary_of, train_command
from tests.training.shards import write_shards
from training import callbacks, run_folder, trainer
from training.config import TrainConfig
from training.input_pipeline import preprocess_frames


def epochs_in_csv(model_dir):
    with open(os.path.join(model_dir, run_folder.METRICS_CSV)) as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, data_dir):
    """`python -m training` for 2 epochs of 3 steps with validation, on CPU."""
    model_dir = str(tmp_path_factory.mktemp("run"))
    run(
        train_command(
            data_dir,
            model_dir,
            f"--val_tfrecord_glob={data_dir}/val-*",
            "--epochs=2",
            "--steps_per_epoch=3",
            "--checkpoint_every_steps=2",
        )  # fmt: skip
    )
    return model_dir


def test_cli_smoke_run_fills_the_run_folder(smoke_run, data_dir):
    summary = summary_of(smoke_run)
    assert summary["global_step"] == 6 and summary["steps_per_epoch"] == 3
    assert summary["resumed_from_step"] == 0
    assert epochs_in_csv(smoke_run) == [1, 2]  # numbered as on the console
    with open(os.path.join(smoke_run, run_folder.METRICS_CSV)) as f:
        rows = list(csv.DictReader(f))
    assert all(np.isfinite(float(r["loss"])) and np.isfinite(float(r["val_loss"])) for r in rows)
    names = set(os.listdir(smoke_run))
    for name in ("model.keras", "saved_model", "backup", "logs", "config.json"):
        assert name in names
    assert sorted(os.listdir(os.path.join(smoke_run, "checkpoints"))) == [
        "epoch-001.weights.h5",
        "epoch-002.weights.h5",
    ]
    events = os.listdir(os.path.join(smoke_run, "logs", "train"))
    assert any(f.startswith("events.out") for f in events)
    for name in ("dataset.json", "labels.txt"):
        with open(os.path.join(data_dir, name)) as a, open(os.path.join(smoke_run, name)) as b:
            assert a.read() == b.read()


def test_saved_model_takes_uint8_clips_and_matches_model_keras(smoke_run):
    model, labels, info = run_folder.load_run(smoke_run)
    assert labels == ["gloss0", "gloss1", "gloss2"] and info.clip.frame_shape == (4, 48, 48, 3)
    clips = np.random.default_rng(0).integers(0, 256, (2, 4, 48, 48, 3), dtype=np.uint8)
    expected = model(preprocess_frames(clips), training=False).numpy()
    serving = tf.saved_model.load(os.path.join(smoke_run, run_folder.SAVED_MODEL_DIR))
    signature = serving.signatures["serving_default"]
    assert signature.structured_input_signature[1]["clips"].dtype == tf.uint8
    got = signature(clips=tf.constant(clips))["probabilities"].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_evaluate_cli_prints_and_writes_metrics(smoke_run, data_dir):
    proc = run([PYTHON, "-m", "training.evaluate", f"--model_dir={smoke_run}",
                f"--tfrecord_glob={data_dir}/val-*", "--batch_size=4"])  # fmt: skip
    assert "top1_accuracy" in proc.stdout and "mean_per_class_top1_accuracy" in proc.stdout
    with open(os.path.join(smoke_run, "eval_val.json")) as f:
        metrics = json.load(f)
    assert metrics["num_examples"] == 9 and metrics["num_classes_present"] == 3
    assert 0 <= metrics["top1_accuracy"] <= metrics["top5_accuracy"] <= metrics["top10_accuracy"]
    assert metrics["top5_accuracy"] == 1.0  # 3 classes
    # The validation loss Keras logged at the last epoch is the same computation.
    with open(os.path.join(smoke_run, run_folder.METRICS_CSV)) as f:
        last = list(csv.DictReader(f))[-1]
    assert metrics["loss"] == pytest.approx(float(last["val_loss"]), rel=1e-4)


def test_evaluate_refuses_shards_of_another_dataset(smoke_run, tmp_path):
    from training.evaluate import evaluate

    write_shards(str(tmp_path / "five"), num_examples=5, num_labels=5)
    mismatch = f"the shards in {tmp_path}/five do not match the run in {smoke_run}: 5 classes vs 3"
    with pytest.raises(ValueError, match=mismatch):
        evaluate(smoke_run, f"{tmp_path}/five/train-*")
    write_shards(str(tmp_path / "big"), num_examples=3, num_labels=3, size=50)
    with pytest.raises(ValueError, match=r"clips \(4, 50, 50, 3\).*\(4, 48, 48, 3\)"):
        evaluate(smoke_run, f"{tmp_path}/big/train-*")


def test_label_outside_vocabulary_stops_training_naming_the_shard(tmp_path):
    data = str(tmp_path / "data")
    write_shards(data, num_examples=6, num_labels=3, labels=[0, 1, 2, 0, 9, 1], num_shards=1)
    config = TrainConfig(
        tfrecord_glob=f"{data}/train-*", model_dir=str(tmp_path / "run"), batch_size=2,
        epochs=1, shuffle_buffer=0, verbose=0, strategy="one_device",
    )  # fmt: skip
    expected = r"train-00000-of-00001.tfrecord: .*label 9 not in \[0, 3\)"
    with pytest.raises(ValueError, match=expected):
        trainer.train(config)


def test_batch_larger_than_the_data_is_refused(tmp_path, data_dir):
    config = TrainConfig(
        tfrecord_glob=f"{data_dir}/train-*", model_dir=str(tmp_path), batch_size=64, verbose=0
    )
    with pytest.raises(ValueError, match="--batch_size=64 .*24 training examples"):
        trainer.train(config)


def test_validation_shards_of_another_format_are_refused_before_training(tmp_path, data_dir):
    val = str(tmp_path / "val")
    write_shards(val, num_examples=2, num_labels=4, split="val")
    config = TrainConfig(
        tfrecord_glob=f"{data_dir}/train-*", val_tfrecord_glob=f"{val}/val-*", model_dir="-"
    )
    mismatch = (
        f"the shards in {val} do not match the training shards in {data_dir}: 4 classes vs 3 "
        r"\(.*\)\. --val_tfrecord_glob must match --tfrecord_glob\."
    )
    with pytest.raises(ValueError, match=mismatch):
        trainer.open_data(config)


def test_non_finite_loss_raises():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x = np.array([[1.0, np.nan]] * 4, dtype=np.float32)
    with pytest.raises(FloatingPointError, match="loss became nan at step"):
        model.fit(x, np.zeros(4), epochs=1, verbose=0, callbacks=[callbacks.StopOnNonFiniteLoss()])


@pytest.mark.slow
def test_sigkill_then_same_command_ends_like_an_uninterrupted_run(tmp_path, data_dir):
    args = ("--epochs=3", "--steps_per_epoch=8", "--checkpoint_every_steps=3", "--batch_size=2")
    straight, killed = str(tmp_path / "straight"), str(tmp_path / "killed")
    reference = subprocess.Popen(
        train_command(data_dir, straight, *args), cwd=REPO, env=subprocess_env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    cmd = train_command(data_dir, killed, *args)
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    # tf.train.CheckpointManager writes this file once a checkpoint is complete.
    backup = os.path.join(killed, run_folder.BACKUP_DIR, "checkpoint")
    deadline = time.time() + 120
    while not os.path.exists(backup) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not os.path.exists(os.path.join(killed, run_folder.SUMMARY_JSON)), "finished before kill"

    run(cmd)  # the same command again
    assert reference.wait(timeout=180) == 0
    resumed, uninterrupted = summary_of(killed), summary_of(straight)
    assert 0 < resumed["resumed_from_step"] < 24
    assert resumed["global_step"] == uninterrupted["global_step"] == 24
    assert epochs_in_csv(straight) == [1, 2, 3]
    # Epochs the killed run finished are in its CSV once; the restart added the others once.
    assert sorted(set(epochs_in_csv(killed))) == [1, 2, 3]
    assert len(epochs_in_csv(killed)) == 3

    run(cmd)  # a finished run, rerun, trains no further and keeps its final metrics
    rerun = summary_of(killed)
    assert rerun["global_step"] == 24 and rerun["resumed_from_step"] == 24
    assert rerun["last_epoch_metrics"] == resumed["last_epoch_metrics"] != {}
