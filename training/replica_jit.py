"""--jit_compile under MirroredStrategy: XLA inside each replica, not around the whole step.

Keras 3.15 compiles the train step with XLA by wrapping `strategy.run(train_step)` in one
`tf.function(jit_compile=True)`. Under a one-device strategy that is fine. Under
MirroredStrategy that single XLA cluster would read every replica's copy of the variables from
one device ("Trying to access resource ... located in device CPU:1 from device CPU:0"), so
`jit_compile=True` fails at the first step; with `jit_compile="auto"` Keras quietly turns XLA
off under any tf.distribute strategy. Here each replica's forward and backward pass is one XLA
function on that replica's device; gradient all-reduce and the optimizer update stay outside XLA,
where tf.distribute does them. Only public APIs: `Model.train_step` replaced on the instance,
`compute_loss`, `compute_metrics`, `optimizer.scale_loss` / `apply`, `tf.function`.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def needs_replica_jit(model: keras.Model) -> bool:
    """True where Keras' whole-step XLA cannot work: mirrored variables on several devices."""
    strategy = model.distribute_strategy
    return isinstance(
        strategy, (tf.distribute.MirroredStrategy, tf.distribute.MultiWorkerMirroredStrategy)
    )


def use_replica_jit(model: keras.Model) -> None:
    """After `model.compile(jit_compile=False)`: fit's train step runs XLA inside each replica.

    Same loss, gradients, update and logs as Keras' own train step (the `loss` tracker gets the
    unscaled per-replica loss, weighted by the replica's batch, as Keras does).
    """
    if model.optimizer is None:
        raise ValueError("compile the model before use_replica_jit")

    @tf.function(jit_compile=True, reduce_retracing=True)
    def forward_backward(x, y, sample_weight):
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            loss = model.compute_loss(
                x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True
            )
            scaled = model.optimizer.scale_loss(loss)
        return y_pred, loss, tape.gradient(scaled, model.trainable_variables)

    def train_step(data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y_pred, loss, gradients = forward_backward(x, y, sample_weight)
        # compute_loss divides by the replicas in sync (the all-reduce sums); the tracker
        # records the replica's own mean loss.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        for metric in model.metrics:
            if metric.name == "loss":
                metric.update_state(loss * replicas, sample_weight=tf.shape(x)[0])
        model.optimizer.apply(gradients, model.trainable_variables)
        return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    train_step.xla_function = forward_backward  # for tests: its compiler IR proves XLA
    model.train_step = train_step
