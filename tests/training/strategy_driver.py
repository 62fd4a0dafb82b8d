"""Subprocess body of the strategy tests: one step's losses, then a short real fit.

    python -m tests.training.strategy_driver --strategy=mirrored --logical_cpus=2 \
        --glob='DIR/train-*' --init_weights=W.weights.h5 --out=R.json [--model_dir=RUN]

The model is built with dropout off so that one step can be compared across strategies.
"""

import json
import os
import sys

from absl import app, flags

flags.DEFINE_string("strategy", "one_device", "Strategy to run under.")
flags.DEFINE_integer("logical_cpus", 1, "Split the CPU into this many logical devices.")
flags.DEFINE_string("glob", None, "Training shards.")
flags.DEFINE_integer("batch_size", 4, "Global batch.")
flags.DEFINE_string("init_weights", None, "Initial weights (written if missing).")
flags.DEFINE_string("out", None, "JSON file for the results.")
flags.DEFINE_string("model_dir", "", "If set, also run trainer.train for a few steps here.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import tensorflow as tf

    if FLAGS.logical_cpus > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * FLAGS.logical_cpus
        )
    from training import input_pipeline, keras_multi_worker, shard_source, trainer
    from training.config import TrainConfig
    from training.model import build_model
    from training.optimization import compile_model
    from training.strategy import make_strategy

    strategy = make_strategy(FLAGS.strategy)
    source = shard_source.open_source(FLAGS.glob)
    info = source.info
    with strategy.scope():
        model = build_model(
            info.num_labels,
            info.clip.num_frames,
            info.clip.size,
            dropout=0.0,
            recurrent_dropout=0.0,
        )
        compile_model(model)
        if os.path.exists(FLAGS.init_weights):
            model.load_weights(FLAGS.init_weights)
        else:
            model.save_weights(FLAGS.init_weights)
    data = trainer.distributed_train_data(
        strategy, source, FLAGS.batch_size, shuffle_buffer=0, seed=0
    )
    per_replica = FLAGS.batch_size // strategy.num_replicas_in_sync
    spec = input_pipeline.batch_spec(info, per_replica)
    keras_multi_worker.prepare_model(model, strategy, spec)
    with strategy.scope():
        history = model.fit(data, epochs=1, steps_per_epoch=1, verbose=0)
    # The same first global batch (one pass, file order) evaluated after the update.
    first = input_pipeline.make_dataset(source.files, info, FLAGS.batch_size, training=False)
    first = first.take(1)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    with strategy.scope():
        after = model.evaluate(first.with_options(options), verbose=0, return_dict=True)
    result = {
        "replicas": strategy.num_replicas_in_sync,
        "step_loss": float(history.history["loss"][0]),
        "loss_after_step": float(after["loss"]),
    }
    if FLAGS.model_dir:
        config = TrainConfig(
            tfrecord_glob=FLAGS.glob,
            model_dir=FLAGS.model_dir,
            batch_size=FLAGS.batch_size,
            epochs=1,
            steps_per_epoch=2,
            strategy=FLAGS.strategy,
            verbose=0,
        )
        result["summary"] = trainer.train(config, strategy)
    with open(FLAGS.out, "w") as f:
        json.dump(result, f)
    sys.stdout.flush()


if __name__ == "__main__":
    flags.mark_flags_as_required(["glob", "init_weights", "out"])
    app.run(main)
