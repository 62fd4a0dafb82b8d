"""Input-pipeline and training benchmarks: each stage against its floor and the original.

Every figure is a ratio of two measurements taken side by side in one run (interleaved, repeated,
medians). The GPU proxy, which must run without TensorFlow, is benchmarks.gpu_proxy.
Entry point: `python scripts/benchmark.py`.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time

import numpy as np

from benchmarks import common
from benchmarks.common import format_table, machine_info, median, ratio, ratio_rows

log = logging.getLogger(__name__)

# The original approach: 1 s a step at batch 2 on a GPU (10,255 s an epoch), decoding in the loop.
BATCH_SIZES = (2, 8, 32)


@dataclasses.dataclass(frozen=True)
class TrainBenchConfig:
    tiny: bool = False
    repeats: int = 3
    steps: int = 0  # timed steps per measurement; 0 = chosen by the batch size
    batch_sizes: tuple[int, ...] | None = None  # None: (2, 8, 32), tiny (2, 4)
    workdir: str = ""

    def __post_init__(self):
        if self.repeats < 1 or self.steps < 0:
            raise ValueError(f"repeats >= 1 and steps >= 0 expected, got {self}")
        if self.batch_sizes is not None and (not self.batch_sizes or min(self.batch_sizes) < 1):
            raise ValueError(f"batch_sizes must be positive integers, got {self.batch_sizes}")

    @property
    def clip_shape(self) -> tuple[int, int]:
        """(frames, size): tiny uses the smallest clip the network takes.

        Two frames still run the ConvLSTM2D recurrence; XLA unrolls its time loop, so the tiny
        XLA setting compiles in about half the time it takes at 4 frames.
        """
        return (2, 46) if self.tiny else (20, 150)

    @property
    def batches(self) -> tuple[int, ...]:
        return self.batch_sizes or ((2, 4) if self.tiny else BATCH_SIZES)

    def steps_for(self, batch_size: int) -> int:
        # Full-size clips cost ~0.3-0.5 s each for a train step on a small CPU: few steps.
        if self.steps:
            return self.steps
        if self.tiny:
            return 3
        return max(3, 8 // batch_size)


# ------------------------------------------------------------------------------------- data
@dataclasses.dataclass(frozen=True)
class BenchData:
    files: tuple[str, ...]  # training shards
    info: object  # DatasetInfo
    clips: tuple  # manifest Clips of the training split (what the original approach reads)
    # Tiny mode checks that every setting runs; it builds the network without recurrent dropout,
    # whose masks make XLA's compile of the unrolled loop most of a tiny run. Full mode measures
    # the published network.
    tiny: bool = False


def prepare_data(
    workdir: str, config: TrainBenchConfig, copies: int = 1, num_shards: int = 0
) -> BenchData:
    """Benchmark videos (synthetic set + longer, larger ones) → shards by the preprocess CLI;
    `copies` > 1: the corpus that many times over, `num_shards` > 0: the train split in that
    many shards."""
    from benchmarks import preprocess_bench as pb
    from preprocess import cli, manifests
    from training import shard_source

    corpus = pb.make_corpus(os.path.join(workdir, "corpus"), config.tiny)
    if copies > 1:
        corpus = pb.replicate(corpus, copies, os.path.join(workdir, f"x{copies}"))
    out = os.path.join(workdir, "records")
    frames, size = config.clip_shape
    cli.run(
        [
            f"--manifest={corpus.manifest}",
            f"--video_dir={corpus.video_dir}",
            f"--output_dir={out}",
            f"--num_frames={frames}",
            f"--size={size}",
            "--splits=train",
            "--direct_running_mode=in_memory",
            "--direct_num_workers=1",
            *([f"--num_shards={num_shards}"] if num_shards else []),
        ],
        save_main_session=False,
    )
    source = shard_source.open_source(os.path.join(out, "train-*"))
    manifest = manifests.read_manifest(corpus.manifest, corpus.video_dir, splits=["train"])
    return BenchData(source.files, source.info, tuple(manifest.clips), config.tiny)


# (copies of the corpus, shards of the train split) for the input benchmark; see _run_input.
INPUT_DATA = (8, 4)


def _with_workdir(config: TrainBenchConfig, fn):
    with common.workdir(config.workdir, "bench-train-") as folder:
        return fn(folder)


def pipeline_dataset(data: BenchData, batch_size: int):
    from training import input_pipeline

    return input_pipeline.make_dataset(
        data.files, data.info, batch_size, training=True, shuffle_buffer=256, seed=0
    )


def float_pipeline_dataset(data: BenchData, batch_size: int):
    """The pipeline as it was before uint8 went into the model: float32 in [0, 1] per batch."""
    import tensorflow as tf

    return pipeline_dataset(data, batch_size).map(
        lambda frames, label: (tf.image.convert_image_dtype(frames, tf.float32), label),
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def clips_per_s(dataset, num_clips: int, batch_size: int, warmup_batches: int = 2) -> float:
    """Iterates `dataset` (after a warm-up) until `num_clips` clips have come out."""
    iterator = iter(dataset)
    for _ in range(warmup_batches):
        next(iterator)
    batches = max(1, num_clips // batch_size)
    started = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch_size / (time.perf_counter() - started)


def jpeg_floor_dataset(data: BenchData, batch_size: int):
    """tf.io.decode_jpeg alone on the shards' JPEG frames, already in memory, same parallelism.

    Everything the input pipeline does besides decoding (reading, parsing, the label check,
    batching) is what the ratio against this measures; both yield uint8 clips.
    """
    import tensorflow as tf

    clip = data.info.clip
    if clip.frame_encoding != "jpeg":
        raise ValueError(f"the JPEG floor needs jpeg shards, got {clip.frame_encoding}")
    spec = clip.parse_spec()
    encoded = []
    for path in data.files:
        for record in tf.data.TFRecordDataset(path, compression_type=data.info.compression):
            encoded.append(tf.io.parse_single_example(record, spec)["frames"])
    frames = tf.stack(encoded)  # (clips, T) JPEG strings, in memory

    def decode(jpegs):
        return tf.stack([tf.io.decode_jpeg(jpegs[t], channels=3) for t in range(clip.num_frames)])

    ds = tf.data.Dataset.from_tensor_slices(frames).repeat()
    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


# ---------------------------------------------------------------------------------- training
def new_model(
    data: BenchData, mixed_precision: str = "none", jit_compile: bool = False, float_input=False
):
    """The trainer's network and compile settings (training.model), under a dtype policy.

    float_input: the network as the original fed it, float32 clips in [0, 1] (no Rescaling).
    """
    import keras

    from training.model import build_model, build_model_v1
    from training.optimization import compile_model

    previous = keras.config.dtype_policy()
    if mixed_precision != "none":
        keras.config.set_dtype_policy(mixed_precision)
    try:
        keras.utils.set_random_seed(0)
        clip = data.info.clip
        build = build_model_v1 if float_input else build_model
        extra = {"recurrent_dropout": 0.0} if data.tiny else {}
        model = build(data.info.num_labels, clip.num_frames, clip.size, **extra)
        return compile_model(model, jit_compile=jit_compile)
    finally:
        keras.config.set_dtype_policy(previous)


def fit_clips_per_s(model, make_data, steps: int, batch_size: int) -> float:
    """Steady-state clips/s of model.fit on `make_data()` (a fresh dataset or generator).

    Timed from the end of the first step to the end of the last: what an epoch of thousands of
    steps sees, without fit's start (iterator creation, filling the prefetch buffers, a trace).
    """
    import keras

    class StepTimes(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times = []

        def on_train_batch_end(self, batch, logs=None):
            self.times.append(time.perf_counter())

    timer = StepTimes()
    steps = max(steps, 2)
    model.fit(
        make_data(), epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False, callbacks=[timer]
    )
    times = timer.times
    return (len(times) - 1) * batch_size / (times[-1] - times[0])


def memory_batches(data: BenchData, batch_size: int):
    """One real batch from the pipeline, held in memory and repeated: the train step alone."""
    import tensorflow as tf

    x, y = next(iter(pipeline_dataset(data, batch_size)))
    return lambda: tf.data.Dataset.from_tensors((x, y)).repeat()


def original_generator(clips, num_frames: int, size: int, batch_size: int):
    """The original approach, re-created: every step opens each video with decord, takes
    `num_frames` evenly spaced frames of the clip and resizes each one (PIL bilinear, as cv2.resize
    would), then scales to [0, 1]; batches of `batch_size` from a Python generator into fit.
    """
    import decord
    from PIL import Image

    labels = np.array([c.label for c in clips], np.int32)
    while True:
        for start in range(0, len(clips) - batch_size + 1, batch_size):
            batch = []
            for clip in clips[start : start + batch_size]:
                reader = decord.VideoReader(clip.path, ctx=decord.cpu(0))
                last = (
                    len(reader) - 1
                    if clip.frame_end == -1
                    else min(clip.frame_end, len(reader)) - 1
                )
                first = min(clip.frame_start - 1, last)
                index = np.round(np.linspace(first, last, num_frames)).astype(int)
                frames = reader.get_batch(list(index)).asnumpy()
                del reader
                resized = [
                    np.asarray(Image.fromarray(f).resize((size, size), Image.BILINEAR))
                    for f in frames
                ]
                batch.append(np.stack(resized).astype(np.float32) / 255.0)
            yield np.stack(batch), labels[start : start + batch_size]


def original_input_clips_per_s(data: BenchData, batch_size: int, num_clips: int) -> float:
    """The original generator alone, no training: its decoding cost per clip."""
    clip = data.info.clip
    gen = original_generator(data.clips, clip.num_frames, clip.size, batch_size)
    next(gen)
    batches = max(1, num_clips // batch_size)
    started = time.perf_counter()
    for _ in range(batches):
        next(gen)
    return batches * batch_size / (time.perf_counter() - started)


def run_input(config: TrainBenchConfig) -> dict:
    """Input pipeline vs decode_jpeg alone, vs the original generator, vs what training consumes."""
    return _with_workdir(config, lambda workdir: _run_input(config, workdir))


def _run_input(config: TrainBenchConfig, workdir: str) -> dict:
    started = time.perf_counter()
    result = {"benchmark": "input", "tiny": config.tiny, "machine": machine_info()}
    result["config"] = dataclasses.asdict(config)
    # An epoch shaped like a real one: the corpus 8 times over (344 training clips) in 4 shards.
    # The corpus alone is 42 clips in one shard, and the pipeline's per-epoch work (a new file
    # order, a new interleave) every 21 batches cost it 3-4 points of the ratio below.
    data = prepare_data(workdir, config, *((1, 0) if config.tiny else INPUT_DATA))
    batch = 2
    num_clips = 64 if config.tiny else 400
    clip = data.info.clip
    result["data"] = {"train_clips": len(data.clips), "train_shards": len(data.files),
                      "clip": clip.to_json(), "batch_size": batch}  # fmt: skip
    model = new_model(data)
    steps = config.steps_for(batch)
    fit_clips_per_s(model, memory_batches(data, batch), 1, batch)  # trace once
    floor_ds = jpeg_floor_dataset(data, batch)
    rounds = []
    for _ in range(config.repeats):
        rounds.append(
            {
                "pipeline": clips_per_s(pipeline_dataset(data, batch), num_clips, batch),
                "pipeline_float": clips_per_s(
                    float_pipeline_dataset(data, batch), num_clips, batch
                ),
                "decode_jpeg": clips_per_s(floor_ds, num_clips, batch),
                "original_generator": original_input_clips_per_s(
                    data, batch, max(8, num_clips // 10)
                ),
                "train_step": fit_clips_per_s(model, memory_batches(data, batch), steps, batch),
            }
        )
    result["rounds"] = rounds
    rates = {k: median(r[k] for r in rounds) for k in rounds[0]}
    result["throughput"] = {
        "input pipeline (read, parse, decode, batch; uint8 out)": rates["pipeline"],
        "same + float32 conversion (the pipeline before uint8 input)": rates["pipeline_float"],
        "tf.io.decode_jpeg alone, frames in memory": rates["decode_jpeg"],
        "original generator (decord + resize per step)": rates["original_generator"],
        "trainer consumes (train step, batch 2, CPU)": rates["train_step"],
    }
    result["ratios"] = {
        "input pipeline / decode_jpeg alone": ratio(rates["pipeline"], rates["decode_jpeg"], 0.9),
        "float32 pipeline (before) / decode_jpeg alone": ratio(
            rates["pipeline_float"], rates["decode_jpeg"]
        ),
        "input pipeline / trainer consumption": ratio(rates["pipeline"], rates["train_step"], 20),
        "input pipeline / original generator": ratio(
            rates["pipeline"], rates["original_generator"]
        ),
    }
    result["seconds"] = time.perf_counter() - started
    return result


def run_train(config: TrainBenchConfig) -> dict:
    """fit on the pipeline vs on memory, vs the original approach, and clips/s by settings."""
    return _with_workdir(config, lambda workdir: _run_train(config, workdir))


def _run_train(config: TrainBenchConfig, workdir: str) -> dict:
    started = time.perf_counter()
    result = {"benchmark": "train", "tiny": config.tiny, "machine": machine_info()}
    result["config"] = dataclasses.asdict(config)
    data = prepare_data(workdir, config)
    clip = data.info.clip
    result["data"] = {"train_clips": len(data.clips), "clip": clip.to_json()}

    # 1. The input pipeline's cost inside fit, and the original approach, at batch 2.
    batch = 2
    steps = config.steps_for(batch)
    model = new_model(data)
    fit_clips_per_s(model, memory_batches(data, batch), 1, batch)  # trace once
    original = new_model(data, float_input=True)  # the generator yields float32 in [0, 1]
    gen = functools.partial(original_generator, data.clips, clip.num_frames, clip.size, batch)
    fit_clips_per_s(original, gen, 1, batch)
    rounds = []
    for r in range(config.repeats):
        # Alternate the order each round, so a slow spell on the machine hits both sides.
        order = ["memory", "pipeline", "original"]
        if r % 2:
            order.reverse()
        entry = {}
        for name in order:
            if name == "memory":
                entry[name] = fit_clips_per_s(model, memory_batches(data, batch), steps, batch)
            elif name == "pipeline":
                make = functools.partial(pipeline_dataset, data, batch)
                entry[name] = fit_clips_per_s(model, make, steps, batch)
            else:
                entry[name] = fit_clips_per_s(original, gen, steps, batch)
        rounds.append(entry)
    result["rounds_batch_2"] = rounds
    rates = {k: median(r[k] for r in rounds) for k in rounds[0]}

    # 2. clips/s by batch size, mixed precision and XLA: fit fed by the input pipeline.
    settings = []
    for batch_size in config.batches:
        for precision in ("none", "mixed_bfloat16"):
            settings.append((batch_size, precision, False))
    middle = config.batches[len(config.batches) // 2]
    settings += [(middle, "none", True), (middle, "mixed_bfloat16", True)]
    if config.tiny:  # a check that every kind of setting runs
        settings = [settings[0], settings[-3], settings[-2]]
    sweep = []
    for batch_size, precision, jit in settings:
        entry = {"batch_size": batch_size, "mixed_precision": precision, "jit_compile": jit}
        try:
            m = new_model(data, precision, jit)
            make = functools.partial(pipeline_dataset, data, batch_size)
            # The first step (trace, XLA compile) is left out of the timing.
            entry["clips_per_s"] = fit_clips_per_s(
                m, make, config.steps_for(batch_size), batch_size
            )
        except Exception as e:  # noqa: BLE001 - a setting that fails is a result, not a crash
            log.exception("setting %s failed", entry)
            entry["clips_per_s"] = float("nan")
            entry["error"] = f"{type(e).__name__}: {str(e)[:300]}"
        sweep.append(entry)
        log.info("sweep %s", entry)
    result["sweep"] = sweep
    baseline = [s for s in sweep if s["mixed_precision"] == "none" and not s["jit_compile"]]
    best = max(baseline, key=lambda s: s["clips_per_s"] if np.isfinite(s["clips_per_s"]) else -1)
    fastest = max(sweep, key=lambda s: s["clips_per_s"] if np.isfinite(s["clips_per_s"]) else -1)

    result["throughput"] = {
        "fit on the input pipeline, batch 2": rates["pipeline"],
        "same train step on in-memory batches, batch 2": rates["memory"],
        "original approach (decord generator), batch 2": rates["original"],
    }
    result["ratios"] = {
        "fit(input pipeline) / fit(in-memory batch), batch 2": ratio(
            rates["pipeline"], rates["memory"], 0.95
        ),
        "trainer / original approach, both batch 2": ratio(rates["pipeline"], rates["original"]),
        f"trainer at best batch ({best['batch_size']}, float32) / original at batch 2": ratio(
            best["clips_per_s"], rates["original"]
        ),
        "fastest setting ({batch_size}, {mixed_precision}, jit={jit_compile}) / original".format(
            **fastest
        ): ratio(fastest["clips_per_s"], rates["original"]),
    }
    result["seconds"] = time.perf_counter() - started
    return result


# ----------------------------------------------------------------------------------- reports
def _header(result: dict, what: str) -> str:
    m = result["machine"]
    return (
        f"{what} benchmark ({'tiny' if result['tiny'] else 'full'}), "
        f"{result['config'].get('repeats')} interleaved rounds, medians; "
        f"{m['nproc']} CPUs ({m['cpu']}), {m['ram_gib']} GiB"
    )


def report_input(result: dict) -> str:
    return "\n".join(
        [
            _header(result, "input"),
            f"clips: {result['data']['train_clips']} training clips, "
            f"{result['data']['clip']['num_frames']}x{result['data']['clip']['size']}px "
            f"{result['data']['clip']['frame_encoding']}, batch {result['data']['batch_size']}",
            "",
            format_table(["ratio", "value", "target"], ratio_rows(result["ratios"])),
            "",
            format_table(["throughput", "clips/s"], list(map(list, result["throughput"].items()))),
        ]
    )


def report_train(result: dict) -> str:
    sweep_rows = [
        [
            s["batch_size"],
            s["mixed_precision"],
            "on" if s["jit_compile"] else "off",
            s["clips_per_s"],
            s.get("error", ""),
        ]
        for s in result["sweep"]
    ]
    return "\n".join(
        [
            _header(result, "train"),
            f"clips: {result['data']['train_clips']} training clips, "
            f"{result['data']['clip']['num_frames']}x{result['data']['clip']['size']}px",
            "",
            format_table(["ratio", "value", "target"], ratio_rows(result["ratios"])),
            "",
            format_table(["throughput", "clips/s"], list(map(list, result["throughput"].items()))),
            "",
            format_table(
                ["batch", "mixed_precision", "jit_compile", "clips/s (fit on pipeline)", "error"],
                sweep_rows,
            ),
        ]
    )
