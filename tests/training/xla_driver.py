"""Subprocess body of test_replica_jit: --jit_compile under MirroredStrategy on 2 logical CPUs.

    python -m tests.training.xla_driver --glob='DIR/train-*' --out=R.json [--plain]

Logical CPU devices must be configured before TensorFlow starts, hence a fresh process. Dropout
is off so the steps depend on the weights and the batch alone (and XLA compiles in seconds on a
CPU; with the published recurrent dropout it takes minutes here).

The reference is Keras' own XLA step on one device, not the step without XLA. XLA generates its
own CPU kernels for both XLA steps, while the step without XLA runs oneDNN's or Eigen's, picked by
the CPU and TF_ENABLE_ONEDNN_OPTS; where the two part, Adam can turn gradients that nearly cancel
into full steps of either sign, so after two steps their weights differ by 4e-3 (an AMD EPYC, or
an Intel Xeon with TF_ENABLE_ONEDNN_OPTS=0) or by 1e-7 (the Xeon with oneDNN on). `--plain` also
runs the step without XLA, to measure that.
"""

import json
import sys

from absl import app, flags

flags.DEFINE_string("glob", None, "Training shards.")
flags.DEFINE_string("out", None, "JSON file for the results.")
flags.DEFINE_integer("steps", 4, "Steps on the same batch.")
flags.DEFINE_bool("plain", False, "Also run the step without XLA (for measurements only).")
FLAGS = flags.FLAGS


def max_diff(weights_a, weights_b) -> float:
    import numpy as np

    return max(float(np.max(np.abs(a - b))) for a, b in zip(weights_a, weights_b))


def main(argv):
    del argv
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras

    from training import input_pipeline, shard_source
    from training.model import build_model
    from training.optimization import compile_model
    from training.strategy import make_strategy

    mirrored = make_strategy("mirrored")
    source = shard_source.open_source(FLAGS.glob)
    info = source.info
    batch = next(iter(input_pipeline.make_dataset(source.files, info, 4, training=False)))
    keras.utils.set_random_seed(0)
    initial = build_model(info.num_labels, info.clip.num_frames, info.clip.size).get_weights()

    def train(strategy, jit_compile):
        """Per-step logs and final weights of FLAGS.steps steps on `batch` from `initial`."""
        with strategy.scope():
            model = build_model(info.num_labels, info.clip.num_frames, info.clip.size, 0.0, 0.0)
            model.set_weights(initial)
            compile_model(model, jit_compile=jit_compile)
        data = tf.data.Dataset.from_tensors(batch).repeat()
        # One step per epoch: the history holds each step's loss (before its update).
        history = model.fit(data, epochs=FLAGS.steps, steps_per_epoch=1, verbose=0)
        return model, {k: [float(x) for x in v] for k, v in history.history.items()}

    replica_jit, jit_logs = train(mirrored, True)
    # Keras' own XLA step: the default strategy, one device, one XLA cluster around the step.
    keras_xla, keras_xla_logs = train(tf.distribute.get_strategy(), True)
    xla_function = getattr(replica_jit.train_step, "xla_function", None)
    result = {
        "replicas": mirrored.num_replicas_in_sync,
        "keras_xla_jit_compile": keras_xla.jit_compile,
        "xla_traces": xla_function.experimental_get_tracing_count() if xla_function else 0,
        "jit_logs": jit_logs,
        "keras_xla_logs": keras_xla_logs,
        "max_weight_diff": max_diff(replica_jit.get_weights(), keras_xla.get_weights()),
        "max_weight_change": max_diff(replica_jit.get_weights(), initial),
    }
    if FLAGS.plain:
        plain, plain_logs = train(mirrored, False)
        result["plain_logs"] = plain_logs
        xla_vs_plain = max_diff(plain.get_weights(), keras_xla.get_weights())
        result["max_weight_diff_xla_vs_plain"] = xla_vs_plain
    with open(FLAGS.out, "w") as f:
        json.dump(result, f)
    sys.stdout.flush()


if __name__ == "__main__":
    flags.mark_flags_as_required(["glob", "out"])
    app.run(main)
