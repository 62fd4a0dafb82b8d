"""The GPU proxy: the network's train step under Keras on JAX, batch 2..256, float32 and bfloat16.

The trainer is TensorFlow; the machines lent with a GPU have JAX and CUDA but no TensorFlow. The
same network (training.model.build_model, which imports only Keras), loss and optimizer run as
one jitted JAX train step (Keras' stateless API) on uint8 clips already in device memory: a
proxy for the trainer's step, without its input pipeline. Each setting is timed after its
compile, median of `repeats` runs of at least `min_seconds`; a setting that fails (out of
memory) is a result. The fused-gates ConvLSTM2D variant (benchmarks.fused_convlstm) is timed too.

Nothing here may import TensorFlow or `preprocess`. Entry point: `scripts/gpu_proxy.py`
(BENCHMARKS.md has the device command); `scripts/benchmark.py gpu` runs the same.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import time

from benchmarks.common import format_table, machine_info, median, ratio, ratio_rows

log = logging.getLogger(__name__)

# The original approach: 1 s a step at batch 2 on a GPU (10,255 s an epoch), decoding in the loop.
ORIGINAL_CLIPS_PER_S = 2.0
GPU_TARGET_CLIPS_PER_S = 1000.0
BATCH_SIZES = (2, 4, 8, 16, 32, 64, 128, 256)
PRECISIONS = (("float32", "float32"), ("mixed_bfloat16", "bfloat16"))
VARIANTS = ("stock", "fused")


@dataclasses.dataclass(frozen=True)
class GpuBenchConfig:
    tiny: bool = False  # --quick: 4 frames of 46x46, batches 2 and 4, short timings
    batch_sizes: tuple[int, ...] | None = None
    repeats: int = 3
    num_classes: int = 100  # WLASL100: the subset the original was trained on
    min_seconds: float = 1.0  # each timed run lasts at least this long
    variants: tuple[str, ...] = VARIANTS
    precisions: tuple[str, ...] = ("float32", "bfloat16")
    # Settings left once this many seconds have passed are recorded as skipped, so the whole
    # run fits a device lease; 0: no limit.
    budget_seconds: float = 0.0
    json_out: str = ""  # rewritten after every setting: a run cut short keeps what it measured

    def __post_init__(self):
        if self.batch_sizes is not None and (not self.batch_sizes or min(self.batch_sizes) < 1):
            raise ValueError(f"batch_sizes must be positive integers, got {self.batch_sizes}")
        unknown = set(self.variants) - set(VARIANTS)
        if unknown or not self.variants:
            raise ValueError(f"variants must be among {VARIANTS}, got {self.variants}")
        labels = tuple(label for _, label in PRECISIONS)
        if set(self.precisions) - set(labels) or not self.precisions:
            raise ValueError(f"precisions must be among {labels}, got {self.precisions}")

    @property
    def batches(self) -> tuple[int, ...]:
        return self.batch_sizes or ((2, 4) if self.tiny else BATCH_SIZES)

    @property
    def clip_shape(self) -> tuple[int, int]:
        return (4, 46) if self.tiny else (20, 150)


def jax_train_step(model, learning_rate: float):
    """The network's train step as one jitted JAX function (Keras' stateless API).

    Same loss and optimizer as training.optimization.compile_model; state is donated so the update
    happens in place on the device.
    """
    import jax
    import keras

    optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
    optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()

    def compute_loss(trainable, non_trainable, x, y):
        y_pred, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
        return loss_fn(y, y_pred), non_trainable

    grad_fn = jax.value_and_grad(compute_loss, has_aux=True)

    @functools.partial(jax.jit, donate_argnums=0)
    def step(state, x, y):
        trainable, non_trainable, opt_vars = state
        (loss, non_trainable), grads = grad_fn(trainable, non_trainable, x, y)
        trainable, opt_vars = optimizer.stateless_apply(opt_vars, grads, trainable)
        return (trainable, non_trainable, opt_vars), loss

    state = (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in optimizer.variables],
    )
    return step, state


def build_network(config: GpuBenchConfig, precision: str, variant: str):
    """The trainer's network under a dtype policy; `fused`: its ConvLSTM2D layers swapped."""
    import keras

    from training.model import build_model

    frames, size = config.clip_shape
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        keras.utils.set_random_seed(0)
        model = build_model(config.num_classes, frames, size)
        if variant == "fused":
            from benchmarks.fused_convlstm import fused_copy

            model = fused_copy(model)
    finally:
        keras.config.set_dtype_policy(previous)
    return model


def time_setting(config: GpuBenchConfig, batch_size: int, precision: str, variant: str) -> dict:
    """clips/s of the train step on uint8 clips already in device memory (median of repeats)."""
    import jax
    import numpy as np

    from training.config import LEARNING_RATE

    frames, size = config.clip_shape
    model = build_network(config, precision, variant)
    step, state = jax_train_step(model, LEARNING_RATE)
    kx, ky = jax.random.split(jax.random.PRNGKey(0))
    x = jax.random.randint(kx, (batch_size, frames, size, size, 3), 0, 256).astype("uint8")
    y = jax.random.randint(ky, (batch_size,), 0, config.num_classes)
    compile_started = time.perf_counter()
    state, loss = step(state, x, y)
    loss.block_until_ready()
    compile_seconds = time.perf_counter() - compile_started
    # Steps per timed run: enough for min_seconds, from the time of one warm step.
    one = time.perf_counter()
    state, loss = step(state, x, y)
    loss.block_until_ready()
    one = time.perf_counter() - one
    steps = max(3, int(config.min_seconds / max(one, 1e-6)))
    rates = []
    for _ in range(config.repeats):
        started = time.perf_counter()
        for _ in range(steps):
            state, loss = step(state, x, y)
        loss.block_until_ready()
        rates.append(steps * batch_size / (time.perf_counter() - started))
    if not np.isfinite(float(loss)):
        raise FloatingPointError(f"loss became {float(loss)} at batch {batch_size} {precision}")
    return {
        "clips_per_s": median(rates),
        "steps": steps,
        "compile_seconds": compile_seconds,
        "loss": float(loss),
    }


def settings(config: GpuBenchConfig) -> list[tuple[str, int, str, str]]:
    """(variant, batch, policy, label) in the order they are run: the largest and smallest
    batches first, then from large to small, each batch in every variant and precision, so a
    run cut short by its budget still brackets the curve and compares the variants."""
    batches = list(config.batches)
    order = sorted(batches, key=lambda b: (b not in (max(batches), min(batches)), -b))
    return [
        (variant, b, policy, label)
        for b in order
        for variant in config.variants
        for policy, label in PRECISIONS
        if label in config.precisions
    ]


def run_gpu(config: GpuBenchConfig) -> dict:
    """Every setting of `settings(config)`, then the ratios; needs KERAS_BACKEND=jax."""
    import keras

    if keras.backend.backend() != "jax":
        raise ValueError(
            f"the gpu benchmark needs KERAS_BACKEND=jax (Keras is on {keras.backend.backend()!r});"
            " run: KERAS_BACKEND=jax python scripts/gpu_proxy.py"
        )
    import jax

    started = time.perf_counter()
    device = jax.devices()[0]
    result = {
        "benchmark": "gpu",
        "tiny": config.tiny,
        "machine": machine_info(),
        "config": dataclasses.asdict(config),
        "device": {
            "platform": device.platform,
            "kind": getattr(device, "device_kind", str(device)),
            "count": jax.device_count(),
        },
        "versions": {"jax": jax.__version__, "keras": keras.__version__},
        "proxy_for": "the TensorFlow trainer's train step (same network, loss, optimizer)",
        "original_clips_per_s": ORIGINAL_CLIPS_PER_S,
        "results": [],
        "ratios": {},
    }
    for variant, batch_size, policy, label in settings(config):
        entry = {"variant": variant, "batch_size": batch_size, "precision": label}
        elapsed = time.perf_counter() - started
        if config.budget_seconds and elapsed > config.budget_seconds:
            entry.update(clips_per_s=float("nan"), x_original=float("nan"))
            entry["error"] = f"skipped: {elapsed:.0f} s of the {config.budget_seconds:.0f} s budget"
        else:
            try:
                entry.update(time_setting(config, batch_size, policy, variant))
                entry["x_original"] = entry["clips_per_s"] / ORIGINAL_CLIPS_PER_S
            except Exception as e:  # noqa: BLE001 - out of memory at a large batch is a result
                log.warning("%s batch %d %s failed: %s", variant, batch_size, label, e)
                entry.update(clips_per_s=float("nan"), x_original=float("nan"))
                entry["error"] = f"{type(e).__name__}: {str(e)[:300]}"
        result["results"].append(entry)
        log.info("gpu %s", entry)
        _summarize(result, device.platform == "gpu")
        result["seconds"] = time.perf_counter() - started
        if config.json_out:
            write_json(config.json_out, result)
    return result


def _summarize(result: dict, on_gpu: bool) -> None:
    """The best settings and the ratios, from the results so far."""
    rows = [r for r in result["results"] if r["clips_per_s"] == r["clips_per_s"]]  # not NaN
    best = {v: max((r for r in rows if r["variant"] == v), key=lambda r: r["clips_per_s"],
                   default=None) for v in VARIANTS}  # fmt: skip
    result["best"] = best["stock"]
    result["best_fused"] = best["fused"]
    ratios = {}
    if best["stock"]:
        b = best["stock"]
        ratios[f"best ({b['batch_size']}, {b['precision']}) / original 2 clips/s"] = ratio(
            b["clips_per_s"], ORIGINAL_CLIPS_PER_S
        )
        ratios["best clips/s vs the 1,000 clips/s goal (H100/H200)"] = ratio(
            b["clips_per_s"], GPU_TARGET_CLIPS_PER_S, 1.0 if on_gpu else None
        )
    stock = {(r["batch_size"], r["precision"]): r for r in rows if r["variant"] == "stock"}
    pairs = [
        (r, stock[(r["batch_size"], r["precision"])])
        for r in rows
        if r["variant"] == "fused" and (r["batch_size"], r["precision"]) in stock
    ]
    if pairs:
        fused, same = max(pairs, key=lambda p: p[0]["clips_per_s"])
        ratios[
            f"fused / stock ConvLSTM2D, same setting ({fused['batch_size']}, {fused['precision']})"
        ] = ratio(fused["clips_per_s"], same["clips_per_s"])
    if best["fused"] and best["stock"]:
        ratios["best fused / best stock"] = ratio(
            best["fused"]["clips_per_s"], best["stock"]["clips_per_s"]
        )
    result["ratios"] = ratios


def write_json(path: str, result: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1, sort_keys=True, default=str)
    os.replace(tmp, path)


def report_gpu(result: dict) -> str:
    d = result["device"]
    rows = [
        [
            r["variant"],
            r["batch_size"],
            r["precision"],
            r["clips_per_s"],
            r["x_original"],
            r.get("compile_seconds", float("nan")),
            r.get("error", "")[:60],
        ]
        for r in result["results"]
    ]
    return "\n".join(
        [
            f"gpu proxy benchmark ({'quick' if result['tiny'] else 'full'}): Keras "
            f"{result['versions']['keras']} on JAX {result['versions']['jax']}, device "
            f"{d['kind']} ({d['platform']}, {d['count']} visible); train step on uint8 clips in "
            "device memory; a proxy for the TensorFlow trainer",
            "",
            format_table(["ratio", "value", "target"], ratio_rows(result["ratios"])),
            "",
            format_table(
                [
                    "ConvLSTM2D",
                    "batch",
                    "precision",
                    "clips/s",
                    "x original (2 clips/s)",
                    "compile s",
                    "error",
                ],
                rows,
            ),  # fmt: skip
        ]
    )
