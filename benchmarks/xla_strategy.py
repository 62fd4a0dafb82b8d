"""--jit_compile on CPU, side by side: one device and MirroredStrategy on 2 logical CPUs.

    python -m benchmarks.xla_strategy [--frames=4 --size=48 --batch=8 --steps=6 --dropout=0]

Steady-state clips/s of model.fit (first step, which holds the trace and the XLA compile, left
out; the compile time is reported apart), settings interleaved over `--rounds`, medians. Tiny
clips by default: XLA takes minutes on a CPU to compile the full-size network with the
published recurrent dropout, which is why dropout is 0 by default (say so when quoting).
"""

import argparse
import json
import os
import statistics
import sys
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--json_out", default="build/bench/xla_strategy.json")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import numpy as np

    from benchmarks.common import format_table, machine_info
    from training.model import build_model
    from training.optimization import compile_model

    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    strategies = {
        "one device": tf.distribute.OneDeviceStrategy(cpus[0]),
        "mirrored, 2 logical CPUs": tf.distribute.MirroredStrategy(cpus),
    }
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (args.batch, args.frames, args.size, args.size, 3), np.uint8)
    y = rng.integers(0, 3, (args.batch,))
    data = tf.data.Dataset.from_tensors((x, y)).repeat()

    class Times(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.times = [time.perf_counter()]

        def on_train_batch_end(self, batch, logs=None):
            self.times.append(time.perf_counter())

    models, rows = {}, {}
    for name, strategy in strategies.items():
        for jit in (False, True):
            with strategy.scope():
                keras.utils.set_random_seed(0)
                model = build_model(3, args.frames, args.size, args.dropout, args.dropout)
                compile_model(model, jit_compile=jit)
            timer = Times()
            model.fit(data, epochs=1, steps_per_epoch=1, verbose=0, callbacks=[timer])
            models[(name, jit)] = model
            rows[(name, jit)] = {"first_step_s": timer.times[-1] - timer.times[0], "rates": []}
    for _ in range(args.rounds):
        for key, model in models.items():
            timer = Times()
            model.fit(data, epochs=1, steps_per_epoch=args.steps, verbose=0, callbacks=[timer])
            t = timer.times[1:]
            rows[key]["rates"].append((len(t) - 1) * args.batch / (t[-1] - t[0]))
    table, result = [], {"machine": machine_info(), "args": vars(args), "settings": []}
    for (name, jit), row in rows.items():
        rate = statistics.median(row["rates"])
        plain = statistics.median(rows[(name, False)]["rates"])
        table.append([name, "on" if jit else "off", rate, rate / plain, row["first_step_s"]])
        result["settings"].append(
            {"strategy": name, "jit_compile": jit, "clips_per_s": rate, **row}
        )
    text = format_table(
        ["strategy", "jit_compile", "clips/s", "÷ same strategy without XLA", "first step s"],
        table,
    )
    os.makedirs(os.path.dirname(os.path.abspath(args.json_out)), exist_ok=True)
    with open(args.json_out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    print(
        f"clips {args.frames}x{args.size}px, batch {args.batch}, dropout {args.dropout}, "
        f"{args.steps} timed steps x {args.rounds} interleaved rounds (medians)"
    )
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
