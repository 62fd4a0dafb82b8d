"""The update rule: Adam with a constant or cosine learning rate after a linear warm-up, and the
cross-entropy loss with optional label smoothing; `compile_model` puts them on a model."""

from __future__ import annotations

import keras

from training.config import LEARNING_RATE, TrainConfig


def learning_rate(config: TrainConfig, steps_per_epoch: int):
    """A float (constant, no warm-up: exactly the published run) or a Keras schedule of the step.

    Warm-up rises linearly from 0 to --learning_rate over --warmup_epochs; cosine then decays to 0
    at the last step of --epochs. The schedule is a function of the optimizer's step, so a resumed
    run continues on the same curve; a larger --epochs stretches the cosine over the new length.
    """
    total = steps_per_epoch * config.epochs
    warmup = min(round(config.warmup_epochs * steps_per_epoch), total - 1)
    if config.lr_schedule == "constant" and warmup == 0:
        return config.learning_rate
    alpha = 1.0 if config.lr_schedule == "constant" else 0.0  # 1.0: no decay after warm-up
    if warmup == 0:
        return keras.optimizers.schedules.CosineDecay(config.learning_rate, total, alpha=alpha)
    return keras.optimizers.schedules.CosineDecay(
        0.0,
        decay_steps=max(1, total - warmup),
        alpha=alpha,
        warmup_target=config.learning_rate,
        warmup_steps=warmup,
    )


@keras.saving.register_keras_serializable(package="aslvid2gloss")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Sparse categorical cross-entropy with label smoothing (Keras' sparse loss has none)."""

    def __init__(self, label_smoothing: float = 0.0, name="smoothed_sparse_crossentropy", **kw):
        super().__init__(name=name, **kw)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        labels = keras.ops.cast(keras.ops.reshape(y_true, [-1]), "int32")
        one_hot = keras.ops.one_hot(labels, keras.ops.shape(y_pred)[-1], dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(
            one_hot, y_pred, label_smoothing=self.label_smoothing
        )

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def make_loss(label_smoothing: float) -> keras.losses.Loss:
    if label_smoothing == 0:
        return keras.losses.SparseCategoricalCrossentropy()
    return SmoothedSparseCrossentropy(label_smoothing)


def compile_model(
    model: keras.Model,
    learning_rate=LEARNING_RATE,
    jit_compile: bool = False,
    *,
    label_smoothing: float = 0.0,
) -> keras.Model:
    """Adam + cross-entropy + top-1 accuracy ("accuracy", "val_accuracy" in the logs).

    The one compile of the trainer, the tests and the benchmarks, so all of them measure the
    update the trainer runs. `learning_rate`: a float or a schedule (`learning_rate(config, ...)`
    above). jit_compile under MirroredStrategy (the model built in its scope) compiles each
    replica's forward and backward pass with XLA instead (training.replica_jit): Keras' own XLA
    step cannot run there.
    """
    replica_jit = False
    if jit_compile and keras.backend.backend() == "tensorflow":
        # Imported here: replica_jit imports TensorFlow, which this module otherwise does not need.
        from training import replica_jit as rj

        replica_jit = rj.needs_replica_jit(model)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=make_loss(label_smoothing),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=jit_compile and not replica_jit,
    )
    if replica_jit:
        rj.use_replica_jit(model)
    return model


def current_learning_rate(optimizer) -> float:
    """The learning rate at the optimizer's current step, whether constant or scheduled."""
    rate = optimizer.learning_rate
    return float(keras.ops.convert_to_numpy(rate))
