"""Features of a real run: learning-rate schedule, label smoothing, best epoch, early stopping,
continuing with more epochs, refusing changed settings, TensorBoard steps after a resume."""

import csv
import dataclasses
import glob
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from training import optimization, run_folder, trainer
from training.config import TrainConfig
from training.evaluate import evaluate
from training.strategy import count_workers, make_strategy


def config_for(data_dir, model_dir, **kw):
    defaults = dict(
        tfrecord_glob=f"{data_dir}/train-*", val_tfrecord_glob=f"{data_dir}/val-*",
        model_dir=str(model_dir), batch_size=4, epochs=2, steps_per_epoch=3, verbose=0,
        strategy="one_device", checkpoint_every_steps=2,
    )  # fmt: skip
    return TrainConfig(**{**defaults, **kw})


def metrics_rows(model_dir):
    with open(os.path.join(model_dir, run_folder.METRICS_CSV)) as f:
        return list(csv.DictReader(f))


def summary_of(model_dir):
    with open(os.path.join(model_dir, run_folder.SUMMARY_JSON)) as f:
        return json.load(f)


def test_cosine_schedule_with_warmup():
    config = TrainConfig("x", "y", epochs=4, lr_schedule="cosine", warmup_epochs=1)
    rate = optimization.learning_rate(config, steps_per_epoch=10)
    values = [float(rate(s)) for s in (0, 5, 10, 25, 40)]
    assert values == pytest.approx([0.0, 5e-4, 1e-3, 5e-4, 0.0], abs=1e-7)


def test_constant_schedule_with_and_without_warmup():
    assert optimization.learning_rate(TrainConfig("x", "y"), 10) == 1e-3  # the published run
    rate = optimization.learning_rate(TrainConfig("x", "y", epochs=3, warmup_epochs=0.5), 10)
    assert [float(rate(s)) for s in (0, 5, 6, 29)] == pytest.approx([0, 1e-3, 1e-3, 1e-3])


def test_label_smoothing_loss():
    probs = tf.constant([[0.7, 0.2, 0.1]])
    plain = optimization.make_loss(0.0)(tf.constant([0]), probs)
    smoothed = optimization.make_loss(0.3)(tf.constant([0]), probs)
    assert float(plain) == pytest.approx(-np.log(0.7), rel=1e-5)
    target = np.array([0.8, 0.1, 0.1])  # 1 - 0.3 + 0.3/3, and 0.3/3
    assert float(smoothed) == pytest.approx(-(target * np.log([0.7, 0.2, 0.1])).sum(), rel=1e-5)


def test_multi_worker_without_a_cluster_trains_on_this_machine(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    multi_worker = tf.distribute.MultiWorkerMirroredStrategy
    assert not isinstance(make_strategy("multi_worker"), multi_worker)
    one = {"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(one))
    assert not isinstance(make_strategy("multi_worker"), multi_worker)
    for bad, message in [("{oops", "not JSON"), ('{"cluster": {}}', "'cluster' and 'task'"),
                         ('{"cluster": {"worker": ["a:1"]}, '
                          '"task": {"type": "worker", "index": 3}}',
                          "not one of the cluster")]:  # fmt: skip
        with pytest.raises(ValueError, match=f"TF_CONFIG.*{message}|{message}"):
            count_workers(bad)


@pytest.fixture(scope="module")
def run(tmp_path_factory, data_dir):
    """2 epochs with validation, cosine schedule after 1 warm-up epoch, label smoothing."""
    model_dir = tmp_path_factory.mktemp("features")
    config = config_for(
        data_dir, model_dir, lr_schedule="cosine", warmup_epochs=1.0, label_smoothing=0.1
    )
    summary = trainer.train(config)
    return config, str(model_dir), summary


def test_learning_rate_per_epoch_in_metrics_csv(run):
    _, model_dir, _ = run
    rates = [float(r["learning_rate"]) for r in metrics_rows(model_dir)]
    assert rates == pytest.approx([1e-3, 0.0], abs=1e-9)  # end of warm-up, end of the cosine


def test_model_keras_keeps_the_label_smoothing(run):
    _, model_dir, _ = run
    model = keras.models.load_model(os.path.join(model_dir, run_folder.MODEL_KERAS))
    assert model.loss.label_smoothing == pytest.approx(0.1)


def test_best_epoch_is_kept_named_and_evaluated(run, data_dir):
    _, model_dir, summary = run
    rows = metrics_rows(model_dir)
    accuracies = [float(r["val_accuracy"]) for r in rows]
    best = summary["best"]
    assert best["epoch"] == int(rows[int(np.argmax(accuracies))]["epoch"])
    assert best["val_accuracy"] == pytest.approx(max(accuracies))
    assert best["model"] == "best.keras" and best["saved_model"] == "best_saved_model"
    assert os.path.isdir(os.path.join(model_dir, run_folder.BEST_SAVED_MODEL_DIR))
    metrics = evaluate(model_dir, f"{data_dir}/val-*", batch_size=4, checkpoint="best")
    assert metrics["top1_accuracy"] == pytest.approx(best["val_accuracy"], abs=1e-6)
    assert metrics["checkpoint"] == "best"


def test_changed_settings_are_refused_by_name(run):
    config, model_dir, summary = run
    before = sorted(os.listdir(os.path.join(model_dir, run_folder.BACKUP_DIR)))
    changed = dataclasses.replace(config, batch_size=2, learning_rate=0.01)
    with pytest.raises(ValueError, match=r"--batch_size \(was 4, now 2\); --learning_rate "
                       r"\(was 0.001, now 0.01\).*a larger --epochs continues it"):  # fmt: skip
        trainer.train(changed)
    assert sorted(os.listdir(os.path.join(model_dir, run_folder.BACKUP_DIR))) == before
    assert summary_of(model_dir)["global_step"] == summary["global_step"]


def test_rerun_keeps_metrics_then_more_epochs_continue(run):
    config, model_dir, summary = run
    again = trainer.train(config)  # finished: trains nothing, keeps the final metrics
    assert again["global_step"] == 6 and again["resumed_from_step"] == 6
    assert again["last_epoch_metrics"] == summary["last_epoch_metrics"] != {}
    more = trainer.train(dataclasses.replace(config, epochs=3))
    assert more["global_step"] == 9 and more["resumed_from_step"] == 6
    assert [int(r["epoch"]) for r in metrics_rows(model_dir)] == [1, 2, 3]
    assert more["last_epoch_metrics"] != summary["last_epoch_metrics"]
    # TensorBoard's per-step scalars (every 3 steps) continue from the global step after resuming.
    assert tensorboard_steps(model_dir, "step_loss") == [3, 6, 9]


def tensorboard_steps(model_dir, tag):
    steps = []
    for path in glob.glob(os.path.join(model_dir, run_folder.LOG_DIR, "train", "events.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            steps += [event.step for v in event.summary.value if v.tag == tag]
    return sorted(steps)


def test_early_stopping_stops_and_a_rerun_trains_no_further(tmp_path, data_dir):
    # A learning rate too small to change the predictions: validation top-1 never improves.
    config = config_for(data_dir, tmp_path, epochs=6, learning_rate=1e-12,
                        early_stopping_patience=2)  # fmt: skip
    summary = trainer.train(config)
    assert summary["epochs_done"] == 3 and summary["best"]["epoch"] == 1
    assert len(metrics_rows(str(tmp_path))) == 3
    again = trainer.train(config)
    assert again["global_step"] == summary["global_step"] == again["resumed_from_step"]


def test_early_stopping_needs_validation():
    with pytest.raises(ValueError, match="--early_stopping_patience needs --val_tfrecord_glob"):
        TrainConfig("x", "y", early_stopping_patience=3)


def test_checkpoints_every_n_steps_and_at_epoch_ends(tmp_path):
    from training.callbacks import SaveCheckpoints
    from training.checkpointing import TrainState, latest_step

    for every, expected in [(0, [4, 8]), (3, [3, 4, 6, 8])]:
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile("sgd", "mse")
        folder = str(tmp_path / f"every{every}")
        state = TrainState(model, folder, every_steps=every)
        written = []

        class Record(keras.callbacks.Callback):  # runs after SaveCheckpoints
            def on_train_batch_end(self, batch, logs=None):
                self.note()

            def on_epoch_end(self, epoch, logs=None):
                self.note()

            def note(self):
                step = latest_step(folder)
                if step is not None and step not in written:
                    written.append(step)

        x = np.zeros((8, 2), np.float32)
        model.fit(x, x[:, :1], batch_size=2, epochs=2, verbose=0, shuffle=False,
                  callbacks=[SaveCheckpoints(state, steps_per_epoch=4), Record()])  # fmt: skip
        assert written == expected, every
