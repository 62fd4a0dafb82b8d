"""Trains the gloss classifier: input, model, restore, fit, export; plain functions of a config."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time

import keras
import tensorflow as tf

from schemas.dataset_info import (
    DATASET_JSON,
    join,
    label_difference,
    read_dataset_info,
    read_labels,
)
from training import input_pipeline, run_folder
from training.config import TrainConfig
from training.model import build_model, compile_model
from training.strategy import check_global_batch, make_strategy, worker_info


class StepBackup(keras.callbacks.BackupAndRestore):
    """BackupAndRestore whose restore point is the optimizer's step count, not the epoch.

    Keras' own restore only knows epochs, so a run killed mid-epoch would redo the whole epoch
    and end with more steps than an uninterrupted one. `train` restores the weights (optimizer
    step included) itself before fitting, and finishes a cut epoch with just its missing steps.
    The backup also is written at every epoch end and kept after the run, so rerunning a finished
    command trains no further.
    """

    def __init__(self, backup_dir: str, save_freq):
        super().__init__(backup_dir, save_freq=save_freq, delete_checkpoint=False)

    def on_train_begin(self, logs=None):
        pass  # `restore` already loaded the backup before fit.

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch  # Keras starts this at 0 on resume, whatever the epoch.

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        self._last_batch_seen = 0
        self._save_model()

    def _save_model(self):
        # Written under another name, then renamed: a kill while writing (seen in the SIGKILL
        # test) leaves the previous backup whole instead of a truncated HDF5 file.
        tf.io.gfile.makedirs(self.backup_dir)
        tmp = join(self.backup_dir, "saving.weights.h5")
        self.model.save_weights(tmp, overwrite=True)
        tf.io.gfile.rename(tmp, self._weights_path, overwrite=True)
        run_folder.write_json(
            self._training_metadata_path,
            {
                "epoch": self._current_epoch,
                "batch": self._last_batch_seen,
                "step": int(self.model.optimizer.iterations.numpy()),
            },
        )


class StopOnNonFiniteLoss(keras.callbacks.TerminateOnNaN):
    """TerminateOnNaN, then an error: a diverged run must not end looking like a finished one."""

    def on_batch_end(self, batch, logs=None):
        super().on_batch_end(batch, logs)
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            step = int(self.model.optimizer.iterations.numpy())
            raise FloatingPointError(
                f"training loss became {float(loss)} at step {step}: lower --learning_rate, or "
                "check the input data; the last good state is in the run's "
                f"{run_folder.BACKUP_DIR}/"
            )


def work_around_multi_worker_build(
    model: keras.Model, strategy: tf.distribute.Strategy, element_spec
) -> None:
    """Keras 3.15 + MultiWorkerMirroredStrategy with 2+ workers: two fixes so fit/evaluate run.

    1. A model created under a strategy scope remembers the strategy, and fit/evaluate then
       take one input batch and `strategy.reduce("MEAN", batch)` it just to learn its shapes;
       across workers that reduce goes through collective ops, which cannot take the
       (frames, label) tuple ("Attempt to convert a value (PerReplica ...) with an unsupported
       type"). We build loss and metrics from the batch's spec ourselves and make the model
       forget the strategy; fit/evaluate must then run inside `strategy.scope()`, where
       `Model.distribute_strategy` picks the same strategy up again.
    2. Keras reduces each step's logs across workers with `strategy.reduce("MEAN", v, axis=0)`
       (hard-coded, whatever `distribute_reduction_method` says), which fails on the scalar
       losses and metrics ("Invalid reduction dimension 0 for input with 0 dimensions"). The
       step functions here return them as shape (1,) tensors, so that reduce averages over
       all replicas and gives back the scalars Keras expects.
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    with strategy.scope():
        model._symbolic_build(data_batch=element_spec)
    model._distribute_strategy = None
    for name in ("train_step", "test_step"):
        setattr(model, name, _rank1_logs(getattr(model, name)))


def _rank1_logs(step_fn):
    def step(data):
        return {k: tf.reshape(v, [1]) for k, v in step_fn(data).items()}

    return step


def backup_weights_path(backup_dir: str) -> str:
    return join(backup_dir, "latest.weights.h5")


def restore(model: keras.Model, backup_dir: str) -> int:
    """Loads the last backup if there is one; returns the global step it was taken at (0: none)."""
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    path = backup_weights_path(backup_dir)
    if not tf.io.gfile.exists(path):
        return 0
    try:
        model.load_weights(path)
    except (OSError, ValueError) as e:
        raise ValueError(
            f"{path}: cannot restore the backup ({e}); was --model_dir used for another model?"
        ) from None
    step = int(model.optimizer.iterations.numpy())
    logging.info("Resuming from %s at step %d", path, step)
    return step


def distributed_train_data(
    strategy: tf.distribute.Strategy,
    source: input_pipeline.DataSource,
    batch_size: int,
    shuffle_buffer: int,
    seed: int,
    cache: str = "",
) -> tf.distribute.DistributedDataset:
    """The training input under `strategy`; `batch_size` is global.

    distribute_datasets_from_function runs `make` once per worker (input pipeline) with that
    worker's InputContext: the worker reads its share of the files (or of the records, when
    there are fewer files than workers) and batches per replica (batch_size / replicas), and
    the replicas of a worker take successive batches. Keras' fit iterates the resulting
    distributed dataset as is (it only re-distributes plain tf.data datasets).
    """
    check_global_batch(batch_size, strategy)

    def make(context: tf.distribute.InputContext) -> tf.data.Dataset:
        return input_pipeline.make_dataset(
            source.files,
            source.info,
            batch_size=context.get_per_replica_batch_size(batch_size),
            training=True,
            shuffle_buffer=shuffle_buffer,
            seed=seed,
            cache=cache,
            input_context=context,
            record_limits=source.record_limits,
        )

    return strategy.distribute_datasets_from_function(make)


def check_resumed_data(model_dir: str, out_dir: str, source: input_pipeline.DataSource) -> None:
    """A run folder with a backup must be resumed on data of its own format and classes.

    Checked before the model is built, so the error names both dataset.json files instead of
    a weight-shape mismatch deep inside Keras.
    """
    if not tf.io.gfile.exists(backup_weights_path(join(out_dir, run_folder.BACKUP_DIR))):
        return
    if not tf.io.gfile.exists(join(model_dir, DATASET_JSON)):
        return
    run_info = read_dataset_info(model_dir)
    run_labels = read_labels(model_dir)
    new = source.info
    where = f"{source.folders[0]}/dataset.json"
    differences = []
    if run_info.schema_version != new.schema_version:
        differences.append(f"schema version {run_info.schema_version} vs {new.schema_version}")
    if run_info.clip.frame_shape != new.clip.frame_shape:
        differences.append(f"clips {run_info.clip.frame_shape} vs {new.clip.frame_shape}")
    first = label_difference(list(run_labels), list(source.labels))
    if run_info.num_labels != new.num_labels:
        differences.append(f"{run_info.num_labels} classes vs {new.num_labels} ({first})")
    elif tuple(run_labels) != source.labels:
        differences.append(f"labels.txt lists other glosses ({first})")
    if differences:
        raise ValueError(
            f"{model_dir} holds a run trained on data its dataset.json describes, and "
            f"{where} disagrees: {'; '.join(differences)}. Resume with the shards it was "
            "trained on, or use a new --model_dir."
        )


def train(config: TrainConfig, strategy: tf.distribute.Strategy | None = None) -> dict:
    """Runs (or resumes) training in `config.model_dir`; returns what train_summary.json holds.

    `strategy` defaults to the one `config.strategy` names; pass one to reuse it (a process can
    set up multi-worker collectives only once).
    """
    # The strategy first: multi-worker collectives must exist before any other TensorFlow op.
    strategy = strategy or make_strategy(config.strategy)
    devices = strategy.extended.worker_devices
    if config.mixed_precision == "mixed_float16" and all("GPU" not in d.upper() for d in devices):
        # TensorFlow has no float16 MaxPool3D kernel on CPU: fail now, not at the first step.
        raise ValueError(
            f"--mixed_precision=mixed_float16 needs a GPU, and this run's devices are {devices}; "
            "on CPU use --mixed_precision=mixed_bfloat16 or none"
        )
    previous_policy = keras.config.dtype_policy()
    if config.mixed_precision != "none":
        keras.config.set_dtype_policy(config.mixed_precision)
    try:
        return _train(config, strategy)
    finally:
        keras.config.set_dtype_policy(previous_policy)


def _train(config: TrainConfig, strategy: tf.distribute.Strategy) -> dict:
    started = time.time()
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        # Same seed, same data, same device type → the same weights; some ops get slower.
        tf.config.experimental.enable_op_determinism()
    check_global_batch(config.batch_size, strategy)
    is_chief, task_id = worker_info(strategy)
    # Only the chief writes the run folder; other workers write the same files beside it
    # (needed: saving is collective-free, but every worker must run the same callbacks).
    out_dir = config.model_dir if is_chief else join(config.model_dir, f".worker-{task_id}")
    tf.io.gfile.makedirs(out_dir)

    # ---- input
    source = input_pipeline.open_source(config.tfrecord_glob, config.skip_corrupt)
    input_pipeline.check_shards(source)
    info = source.info
    val_source = None
    if config.val_tfrecord_glob:
        val_source = input_pipeline.open_source(config.val_tfrecord_glob, config.skip_corrupt)
        if val_source.info.clip != info.clip or val_source.labels != source.labels:
            raise ValueError(
                f"--val_tfrecord_glob shards ({val_source.folders[0]}) have another clip format or "
                f"labels.txt than the training shards ({source.folders[0]})"
            )
        input_pipeline.check_shards(val_source)
    steps_per_epoch = config.steps_per_epoch or source.num_examples // config.batch_size
    if steps_per_epoch < 1:
        raise ValueError(
            f"--batch_size={config.batch_size} is larger than the {source.num_examples} training "
            f"examples matched by --tfrecord_glob"
        )
    total_steps = steps_per_epoch * config.epochs
    check_resumed_data(config.model_dir, out_dir, source)
    if is_chief:
        run_folder.copy_dataset_files(source.folders[0], config.model_dir)
        _write_config(config, steps_per_epoch, strategy)

    # ---- model, built under the strategy so its variables are mirrored
    with strategy.scope():
        model = build_model(info.num_labels, info.clip.num_frames, info.clip.size)
        compile_model(model, config.learning_rate, config.jit_compile)
        step = restore(model, join(out_dir, run_folder.BACKUP_DIR))
    if step > total_steps:
        raise ValueError(
            f"{config.model_dir} holds a backup at step {step}, past the {total_steps} steps of "
            f"--epochs={config.epochs} x {steps_per_epoch} steps: use a new --model_dir"
        )

    # ---- data (a resumed run reshuffles with another seed: it does not replay the first batches)
    train_data = distributed_train_data(
        strategy, source, config.batch_size, config.shuffle_buffer, config.seed + step, config.cache
    )
    val_data = None
    if val_source is not None:
        # Validation goes to Keras undistributed, at the global batch: Keras splits each batch
        # over the replicas and, across workers, shards by record (every worker reads all
        # files and keeps its part; fine for a small split) and agrees on where the data ends.
        val_data = input_pipeline.make_dataset(
            val_source.files,
            info,
            config.batch_size,
            training=False,
            record_limits=val_source.record_limits,
        )
        options = tf.data.Options()
        policy = tf.data.experimental.AutoShardPolicy.DATA
        options.experimental_distribute.auto_shard_policy = policy
        val_batches = math.ceil(val_source.num_examples / config.batch_size)
        val_data = val_data.with_options(options).apply(
            tf.data.experimental.assert_cardinality(val_batches)
        )

    per_replica_batch = check_global_batch(config.batch_size, strategy)
    work_around_multi_worker_build(
        model, strategy, input_pipeline.batch_spec(info, per_replica_batch)
    )

    # ---- callbacks
    callbacks = [
        StepBackup(
            join(out_dir, run_folder.BACKUP_DIR),
            save_freq=config.checkpoint_every_steps or "epoch",
        ),
        keras.callbacks.ModelCheckpoint(
            join(join(out_dir, run_folder.CHECKPOINT_DIR), run_folder.EPOCH_CHECKPOINT),
            save_weights_only=True,
        ),
        keras.callbacks.TensorBoard(
            join(out_dir, run_folder.LOG_DIR), update_freq=min(100, steps_per_epoch)
        ),
        keras.callbacks.CSVLogger(join(out_dir, run_folder.METRICS_CSV), append=True),
        StopOnNonFiniteLoss(),
    ]
    tf.io.gfile.makedirs(join(out_dir, run_folder.CHECKPOINT_DIR))

    # ---- loop: finish a cut epoch with its missing steps, then whole epochs
    epoch, done_in_epoch = divmod(step, steps_per_epoch)
    plan = []  # (first epoch, end epoch, steps per epoch) of each fit call
    if done_in_epoch:
        plan.append((epoch, epoch + 1, steps_per_epoch - done_in_epoch))
        epoch += 1
    if epoch < config.epochs:
        plan.append((epoch, config.epochs, steps_per_epoch))
    last_logs: dict = {}
    for first_epoch, end_epoch, steps in plan:
        logging.info(
            "Training epochs %d-%d, %d steps each, global batch %d on %d replicas",
            first_epoch + 1, end_epoch, steps, config.batch_size, strategy.num_replicas_in_sync,
        )  # fmt: skip
        # TensorFlow's input errors name no file; these name the shard and the fault.
        files = source.files + (val_source.files if val_source else ())
        with input_pipeline.readable_input_errors(files, info.compression):
            with strategy.scope():  # see work_around_multi_worker_build
                history = model.fit(
                    train_data,
                    epochs=end_epoch,
                    initial_epoch=first_epoch,
                    steps_per_epoch=steps,
                    validation_data=val_data,
                    validation_steps=config.validation_steps or None,
                    callbacks=callbacks,
                    verbose=config.verbose,
                    shuffle=False,  # the pipeline shuffles
                )
        last_logs = {k: float(v[-1]) for k, v in history.history.items() if v}

    # ---- export
    global_step = int(model.optimizer.iterations.numpy())
    summary = {
        "global_step": global_step,
        "epochs": config.epochs,
        "steps_per_epoch": steps_per_epoch,
        "batch_size": config.batch_size,
        "num_replicas": strategy.num_replicas_in_sync,
        "num_train_examples": source.num_examples,
        "resumed_from_step": step,
        "last_epoch_metrics": last_logs,
        "seconds": round(time.time() - started, 3),
    }
    model.save(join(out_dir, run_folder.MODEL_KERAS))
    run_folder.export_saved_model(model, join(out_dir, run_folder.SAVED_MODEL_DIR))
    run_folder.write_json(join(out_dir, run_folder.SUMMARY_JSON), summary)
    logging.info("Finished at step %d; model in %s", global_step, out_dir)
    return summary


def _write_config(config: TrainConfig, steps_per_epoch: int, strategy) -> None:
    path = join(config.model_dir, run_folder.CONFIG_JSON)
    data = dataclasses.asdict(config)
    if tf.io.gfile.exists(path):
        with tf.io.gfile.GFile(path) as f:
            old = json.load(f)
        changed = sorted(k for k in data if k in old and old[k] != data[k])
        if old.get("steps_per_epoch_resolved") not in (None, steps_per_epoch):
            changed.append("steps per epoch")
        if changed:
            logging.warning("Resuming %s with changed settings: %s", config.model_dir, changed)
    data["steps_per_epoch_resolved"] = steps_per_epoch
    data["num_replicas"] = strategy.num_replicas_in_sync
    run_folder.write_json(path, data)
