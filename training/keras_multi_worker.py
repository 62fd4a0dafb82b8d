"""The one place that reaches into Keras: fit/evaluate under MultiWorkerMirroredStrategy.

Keras 3 cannot run `fit` under tf.distribute.MultiWorkerMirroredStrategy with two or more
workers (keras-team/keras#20585, tensorflow/tensorflow#72388, both open when this was written).
The workaround below uses two private Model members, so it is pinned to the Keras release it was
written and tested for (the two-worker test in tests/training/test_strategy.py) and refuses to run
on another: a renamed internal must fail here, with this message, not deep inside a fit.
"""

from __future__ import annotations

import keras
import tensorflow as tf

WRITTEN_FOR_KERAS = "3.15."  # the releases whose Model internals this module was checked on


def check_keras_version(version: str = keras.__version__) -> None:
    if not version.startswith(WRITTEN_FOR_KERAS):
        raise RuntimeError(
            f"training/keras_multi_worker.py works around keras-team/keras#20585 with Keras "
            f"{WRITTEN_FOR_KERAS}x internals, and Keras {version} is installed: install "
            f"keras=={WRITTEN_FOR_KERAS}1 (setup.py), or check whether the upstream issue is "
            "fixed and update this module, then run tests/training/test_strategy.py"
        )


def prepare_model(model: keras.Model, strategy: tf.distribute.Strategy, element_spec) -> None:
    """Makes `model` trainable with fit/evaluate under a multi-worker strategy; a no-op otherwise.

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
    check_keras_version()
    with strategy.scope():
        model._symbolic_build(data_batch=element_spec)
    model._distribute_strategy = None
    for name in ("train_step", "test_step"):
        setattr(model, name, _rank1_logs(getattr(model, name)))


def _rank1_logs(step_fn):
    def step(data):
        return {k: tf.reshape(v, [1]) for k, v in step_fn(data).items()}

    return step
