"""Trains the gloss classifier in plain sections: input, resume checks, model, data, callbacks,
loop, export; each is a small function of the config (big_vision's train.py layout)."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time

import keras
import tensorflow as tf

from schemas.layout import DATASET_JSON, join
from training import callbacks as callbacks_lib
from training import (
    checkpointing,
    input_pipeline,
    keras_multi_worker,
    optimization,
    run_folder,
    shard_source,
)
from training.augment import make_augment_fn
from training.config import TrainConfig, changed_state_settings
from training.model import build_model
from training.strategy import check_global_batch, make_strategy, worker_info

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TrainData:
    """The opened training and validation shards, and the epoch length they give."""

    source: shard_source.DataSource
    val_source: shard_source.DataSource | None
    steps_per_epoch: int


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
    # Before any file is read: --batch_size is global and must split evenly over the replicas.
    per_replica_batch = check_global_batch(config.batch_size, strategy)
    is_chief, task_id = worker_info(strategy)
    # Only the chief writes the run folder; other workers write the same files beside it
    # (needed: saving is collective-free, but every worker must run the same callbacks).
    out_dir = config.model_dir if is_chief else join(config.model_dir, f".worker-{task_id}")
    tf.io.gfile.makedirs(out_dir)
    backup_dir = join(out_dir, run_folder.BACKUP_DIR)

    # ---- input
    data = open_data(config)
    info = data.source.info

    # ---- resume checks: before the model is built, so errors name settings, not weight shapes
    if checkpointing.latest_step(backup_dir) is not None:
        check_resumed_data(config.model_dir, data.source)
        if is_chief:
            check_resumed_settings(config, data.steps_per_epoch)
    if is_chief:
        run_folder.copy_dataset_files(data.source.folders[0], config.model_dir)
        write_config(config, data.steps_per_epoch, strategy)

    # ---- model, optimizer and their checkpoint, built under the strategy (mirrored variables)
    model, state, step = build_and_restore(config, strategy, data, backup_dir)

    # ---- data
    make_train_data, val_data = make_inputs(config, strategy, data)
    keras_multi_worker.prepare_model(
        model, strategy, input_pipeline.batch_spec(info, per_replica_batch)
    )

    # ---- callbacks, then the loop
    callbacks = make_callbacks(config, out_dir, state, data)
    last_logs = fit(model, config, strategy, data, make_train_data, val_data, callbacks, state)

    # ---- export
    summary = export(model, config, out_dir, data, strategy, state, step, last_logs)
    summary["seconds"] = round(time.time() - started, 3)
    run_folder.write_json(join(out_dir, run_folder.SUMMARY_JSON), summary)
    log.info("Finished at step %d; model in %s", summary["global_step"], out_dir)
    return summary


def build_and_restore(config: TrainConfig, strategy, data: TrainData, backup_dir: str):
    """(model, training state, the step it resumes at): built in the strategy's scope, so the
    variables are mirrored; a checkpoint past the last step of --epochs is refused."""
    info = data.source.info
    with strategy.scope():
        model = build_model(info.num_labels, info.clip.num_frames, info.clip.size)
        optimization.compile_model(
            model,
            optimization.learning_rate(config, data.steps_per_epoch),
            config.jit_compile,
            label_smoothing=config.label_smoothing,
        )
        state = checkpointing.TrainState(model, backup_dir, config.checkpoint_every_steps)
        step = state.restore()
    total_steps = data.steps_per_epoch * config.epochs
    if step > total_steps:
        raise ValueError(
            f"{config.model_dir} holds a checkpoint at step {step}, past the {total_steps} steps "
            f"of --epochs={config.epochs} x {data.steps_per_epoch} steps: use a larger --epochs "
            "or a new --model_dir"
        )
    return model, state, step


def open_data(config: TrainConfig) -> TrainData:
    """Lists and checks the shards; the epoch length follows from the count of training clips."""
    source = shard_source.open_source(config.tfrecord_glob, config.skip_corrupt)
    shard_source.check_shards(source)
    val_source = None
    if config.val_tfrecord_glob:
        val_source = shard_source.open_source(config.val_tfrecord_glob, config.skip_corrupt)
        training_shards = f"the training shards in {', '.join(source.folders)}"
        shard_source.check_same_data(
            val_source.format,
            dataclasses.replace(source.format, where=training_shards),
            clip_format=True,
            advice="--val_tfrecord_glob must match --tfrecord_glob.",
        )
        shard_source.check_shards(val_source)
    steps_per_epoch = config.steps_per_epoch or source.num_examples // config.batch_size
    if steps_per_epoch < 1:
        raise ValueError(
            f"--batch_size={config.batch_size} is larger than the {source.num_examples} training "
            f"examples matched by --tfrecord_glob"
        )
    return TrainData(source, val_source, steps_per_epoch)


def distributed_train_data(
    strategy: tf.distribute.Strategy,
    source: shard_source.DataSource,
    batch_size: int,
    shuffle_buffer: int,
    seed: int,
    cache: str = "",
    augment=None,
) -> tf.distribute.DistributedDataset:
    """The training input under `strategy`; `batch_size` is global.

    distribute_datasets_from_function runs `make` once per worker (input pipeline) with that
    worker's InputContext: the worker reads its share of the files (or of the records, when
    there are fewer files than workers) and batches per replica (batch_size / replicas), and
    the replicas of a worker take successive batches. Keras' fit iterates the resulting
    distributed dataset as is (it only re-distributes plain tf.data datasets).
    """

    def make(context: tf.distribute.InputContext) -> tf.data.Dataset:
        return input_pipeline.make_for_train(
            source.files,
            source.info,
            context.get_per_replica_batch_size(batch_size),
            shuffle_buffer=shuffle_buffer,
            seed=seed,
            cache=cache,
            input_context=context,
            record_limits=source.record_limits,
            augment=augment,
        )

    return strategy.distribute_datasets_from_function(make)


def make_inputs(config: TrainConfig, strategy, data: TrainData):
    """(a function seed -> distributed training batches, validation batches or None)."""

    def make_train_data(seed: int) -> tf.distribute.DistributedDataset:
        return distributed_train_data(
            strategy,
            data.source,
            config.batch_size,
            config.shuffle_buffer,
            seed,
            config.cache,
            augment=make_augment_fn(config.augment),  # training only: never validation
        )

    if data.val_source is None:
        return make_train_data, None
    # Validation goes to Keras undistributed, at the global batch: Keras splits each batch over
    # the replicas and, across workers, shards by record (every worker reads all files and keeps
    # its part; fine for a small split) and agrees on where the data ends.
    val = data.val_source
    val_data = input_pipeline.make_for_eval(
        val.files, val.info, config.batch_size, record_limits=val.record_limits
    )
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    val_batches = math.ceil(val.num_examples / config.batch_size)
    val_data = val_data.with_options(options).apply(
        tf.data.experimental.assert_cardinality(val_batches)
    )
    return make_train_data, val_data


def make_callbacks(config: TrainConfig, out_dir: str, state, data: TrainData) -> list:
    """In order: the best-epoch record is updated before the epoch-end checkpoint saves it."""
    tf.io.gfile.makedirs(join(out_dir, run_folder.CHECKPOINT_DIR))
    log_dir = join(out_dir, run_folder.LOG_DIR)
    callbacks = [
        callbacks_lib.StopOnNonFiniteLoss(),
        callbacks_lib.MetricsCsv(join(out_dir, run_folder.METRICS_CSV)),
    ]
    if data.val_source is not None:
        callbacks.append(
            callbacks_lib.BestEpoch(state, out_dir, patience=config.early_stopping_patience)
        )
    callbacks += [
        callbacks_lib.SaveCheckpoints(state, data.steps_per_epoch),
        keras.callbacks.ModelCheckpoint(
            join(join(out_dir, run_folder.CHECKPOINT_DIR), run_folder.EPOCH_CHECKPOINT),
            save_weights_only=True,
        ),
        # Epoch scalars from Keras (its step is the epoch); per-step ones at the global step.
        keras.callbacks.TensorBoard(log_dir, update_freq="epoch"),
        callbacks_lib.StepScalars(
            join(log_dir, "train"), every_steps=min(100, data.steps_per_epoch)
        ),
    ]
    return callbacks


def fit_plan(step: int, steps_per_epoch: int, epochs: int) -> list[tuple[int, int, int]]:
    """(first epoch, end epoch, steps per epoch) of each fit call from global step `step`:
    first the missing steps of a cut epoch, then whole epochs up to `epochs`."""
    epoch, done_in_epoch = divmod(step, steps_per_epoch)
    plan = []
    if done_in_epoch:
        plan.append((epoch, epoch + 1, steps_per_epoch - done_in_epoch))
        epoch += 1
    if epoch < epochs:
        plan.append((epoch, epochs, steps_per_epoch))
    return plan


def fit(
    model, config, strategy, data: TrainData, make_train_data, val_data, callbacks, state
) -> dict:
    """Runs the fit calls of `fit_plan`; returns the last epoch's logs ({}: nothing to train).

    `make_train_data(seed)` gives each fit call its own input: the seed is --seed plus the global
    step the call starts at, so a resumed run does not replay the batches of its first epoch.
    """
    steps_per_epoch = data.steps_per_epoch
    epochs_done, best_epoch = state.step // steps_per_epoch, int(state.best_epoch.numpy())
    if callbacks_lib.stop_early(epochs_done, best_epoch, config.early_stopping_patience):
        log.info(
            "This run stopped early after epoch %d (best epoch %d); a larger "
            "--early_stopping_patience continues it", epochs_done, best_epoch,
        )  # fmt: skip
        return {}
    last_logs: dict = {}
    files = data.source.files + (data.val_source.files if data.val_source else ())
    for first_epoch, end_epoch, steps in fit_plan(state.step, steps_per_epoch, config.epochs):
        log.info(
            "Training epochs %d-%d, %d steps each, global batch %d on %d replicas",
            first_epoch + 1, end_epoch, steps, config.batch_size, strategy.num_replicas_in_sync,
        )  # fmt: skip
        # TensorFlow's input errors name no file; these name the shard and the fault.
        with input_pipeline.readable_input_errors(files, data.source.info.compression):
            with strategy.scope():  # see keras_multi_worker.prepare_model
                history = model.fit(
                    make_train_data(config.seed + state.step),
                    epochs=end_epoch,
                    initial_epoch=first_epoch,
                    steps_per_epoch=steps,
                    validation_data=val_data,
                    validation_steps=config.validation_steps or None,
                    callbacks=callbacks,
                    verbose=config.verbose,
                    shuffle=False,  # the pipeline shuffles
                )
        last_logs = {k: float(v[-1]) for k, v in history.history.items() if v} or last_logs
        if model.stop_training:  # early stopping
            break
    return last_logs


def export(model, config, out_dir, data: TrainData, strategy, state, step, last_logs) -> dict:
    """model.keras and saved_model/ (last epoch), best_saved_model/ (best epoch), the summary."""
    model.save(join(out_dir, run_folder.MODEL_KERAS))
    run_folder.export_saved_model(model, join(out_dir, run_folder.SAVED_MODEL_DIR))
    best = None
    best_path = join(out_dir, run_folder.BEST_KERAS)
    if int(state.best_epoch.numpy()) > 0 and tf.io.gfile.exists(best_path):
        best_model = keras.models.load_model(best_path, compile=False)
        run_folder.export_saved_model(best_model, join(out_dir, run_folder.BEST_SAVED_MODEL_DIR))
        best = {
            "epoch": int(state.best_epoch.numpy()),
            "val_accuracy": float(state.best_accuracy.numpy()),
            "model": run_folder.BEST_KERAS,
            "saved_model": run_folder.BEST_SAVED_MODEL_DIR,
        }
    summary_path = join(out_dir, run_folder.SUMMARY_JSON)
    if not last_logs and tf.io.gfile.exists(summary_path):
        # Nothing was trained (a finished command rerun): keep the metrics of the last epoch.
        with tf.io.gfile.GFile(summary_path) as f:
            last_logs = json.load(f).get("last_epoch_metrics", {})
    global_step = state.step
    return {
        "global_step": global_step,
        "epochs": config.epochs,
        "epochs_done": global_step // data.steps_per_epoch,
        "steps_per_epoch": data.steps_per_epoch,
        "batch_size": config.batch_size,
        "num_replicas": strategy.num_replicas_in_sync,
        "num_train_examples": data.source.num_examples,
        "resumed_from_step": step,
        "last_epoch_metrics": last_logs,
        "best": best,
    }


def check_resumed_data(model_dir: str, source: shard_source.DataSource) -> None:
    """A run folder with a checkpoint must be resumed on data of its own format and classes."""
    if not tf.io.gfile.exists(join(model_dir, DATASET_JSON)):
        return
    shard_source.check_same_data(
        source.format,
        shard_source.read_format(model_dir, f"the run in {model_dir}"),
        advice="Resume with the shards it was trained on, or use a new --model_dir.",
    )


def check_resumed_settings(config: TrainConfig, steps_per_epoch: int) -> None:
    """Resuming with settings that shape the training state would mix two runs: an error.

    A larger --epochs continues the run; the settings that may change are those outside
    config.STATE_SETTINGS.
    """
    path = join(config.model_dir, run_folder.CONFIG_JSON)
    if not tf.io.gfile.exists(path):
        return
    with tf.io.gfile.GFile(path) as f:
        old = json.load(f)
    changed = changed_state_settings(old, config.settings())
    old_steps = old.get("steps_per_epoch_resolved")
    if old_steps not in (None, steps_per_epoch):
        changed.append(f"steps per epoch (was {old_steps}, now {steps_per_epoch})")
    if changed:
        raise ValueError(
            f"{config.model_dir} holds a run trained with other settings: {'; '.join(changed)}. "
            f"Rerun with the settings in {path} to resume it (a larger --epochs continues it), "
            "or use a new --model_dir."
        )


def write_config(config: TrainConfig, steps_per_epoch: int, strategy) -> None:
    data = config.settings()
    data["steps_per_epoch_resolved"] = steps_per_epoch
    data["num_replicas"] = strategy.num_replicas_in_sync
    run_folder.write_json(join(config.model_dir, run_folder.CONFIG_JSON), data)
