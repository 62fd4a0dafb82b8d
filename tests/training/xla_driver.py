"""Subprocess body of test_replica_jit: --jit_compile under MirroredStrategy on 2 logical CPUs.

    python -m tests.training.xla_driver --glob='DIR/train-*' --out=R.json

Logical CPU devices must be configured before TensorFlow starts, hence a fresh process. Dropout
is off so the XLA step can be compared with the plain one (and compiles in seconds on a CPU;
with the published recurrent dropout XLA takes minutes to compile it here).
"""

import json
import sys

from absl import app, flags

flags.DEFINE_string("glob", None, "Training shards.")
flags.DEFINE_string("out", None, "JSON file for the results.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import numpy as np

    from training import input_pipeline
    from training.model import build_model, compile_model
    from training.strategy import make_strategy

    strategy = make_strategy("mirrored")
    source = input_pipeline.open_source(FLAGS.glob)
    info = source.info
    batch = next(iter(input_pipeline.make_dataset(source.files, info, 4, training=False)))

    def one_step(jit_compile):
        with strategy.scope():
            keras.utils.set_random_seed(0)
            model = build_model(info.num_labels, info.clip.num_frames, info.clip.size, 0.0, 0.0)
            compile_model(model, jit_compile=jit_compile)
        initial = model.get_weights()
        data = tf.data.Dataset.from_tensors(batch).repeat(2)  # two steps
        history = model.fit(data, epochs=1, verbose=0)
        return model, history.history, initial

    plain, plain_logs, initial = one_step(False)
    xla, xla_logs, _ = one_step(True)
    # fit really went through the XLA function (jit_compile=True: compiled, or an error).
    xla_function = getattr(xla.train_step, "xla_function", None)
    result = {
        "replicas": strategy.num_replicas_in_sync,
        "logs": {k: float(v[0]) for k, v in plain_logs.items()},
        "jit_logs": {k: float(v[0]) for k, v in xla_logs.items()},
        "xla_traces": xla_function.experimental_get_tracing_count() if xla_function else 0,
        "max_weight_diff": max(
            float(np.max(np.abs(a - b))) for a, b in zip(plain.get_weights(), xla.get_weights())
        ),
        "max_weight_change": max(
            float(np.max(np.abs(a - b))) for a, b in zip(plain.get_weights(), initial)
        ),
    }
    with open(FLAGS.out, "w") as f:
        json.dump(result, f)
    sys.stdout.flush()


if __name__ == "__main__":
    flags.mark_flags_as_required(["glob", "out"])
    app.run(main)
