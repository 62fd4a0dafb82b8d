"""Preprocessing benchmarks: the Beam pipeline vs ffmpeg's own decoding, worker scaling, memory.

Every figure is a ratio of two measurements taken side by side in one run, interleaved and
repeated (medians), because absolute speeds depend on the machine and on whatever else runs on it.
Not part of the shipped packages (setup.py). Entry point:
`python scripts/benchmark.py preprocess [--tiny]`; BENCHMARKS.md explains the method.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks import common
from benchmarks.common import format_table, machine_info, median, ratio, ratio_rows

log = logging.getLogger(__name__)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# WLASL v0.3 lists 21,083 instances: used to project the size of a full preprocessed WLASL.
WLASL_CLIPS = 21_083
LONG_GLOSS = "long-video"


# ------------------------------------------------------------------------------------ helpers
def one_cpu() -> set[int] | None:
    """A single CPU this process may run on (for one-core measurements), None if unsupported."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    return {min(os.sched_getaffinity(0))}


# ------------------------------------------------------------------------------------- corpus
@dataclasses.dataclass(frozen=True)
class Corpus:
    manifest: str  # WLASL-format JSON
    video_dir: str
    num_clips: int
    files: tuple[str, ...]  # one per clip, in manifest order


def make_corpus(folder: str, tiny: bool) -> Corpus:
    """The synthetic sign set plus a few longer, larger videos (whole-video clips).

    The long videos are what real sign videos look like to the decoder (VGA and 720p, several
    seconds); the synthetic clips are small and short, so per-file costs show up too.
    """
    from preprocess import synthetic

    if tiny:
        config = synthetic.SyntheticConfig(num_classes=2, clips_per_class=3, width=64, height=48)
        long_videos = [(160, 120, 40)]
    else:
        config = synthetic.SyntheticConfig(num_classes=5, clips_per_class=12)
        long_videos = [(640, 480, 150), (640, 480, 150), (1280, 720, 60)]
    manifest = synthetic.make_dataset(folder, config)
    video_dir = os.path.join(folder, "videos")
    with open(manifest, encoding="utf-8") as f:
        entries = json.load(f)
    rng = np.random.default_rng(1)
    instances = []
    for i, (width, height, num_frames) in enumerate(long_videos):
        video_id = f"long{i}"
        frames = synthetic.render_clip(
            synthetic._PATHS[i % synthetic.MAX_CLASSES][1], num_frames, width, height, rng
        )
        synthetic.write_h264(os.path.join(video_dir, f"{video_id}.mp4"), frames)
        instances.append(
            {
                "bbox": [0, 0, width, height],
                "fps": synthetic.FPS,
                "frame_start": 1,
                "frame_end": -1,
                "instance_id": i,
                "signer_id": 0,
                "source": "synthetic-long",
                "split": "train",
                "url": "",
                "variation_id": 0,
                "video_id": video_id,
            }
        )
    entries.append({"gloss": LONG_GLOSS, "instances": instances})
    with open(manifest, "w", encoding="utf-8") as f:
        json.dump(entries, f, indent=1)
    return _corpus(manifest, video_dir, entries)


def _corpus(manifest: str, video_dir: str, entries) -> Corpus:
    files = [
        os.path.join(video_dir, f"{inst['video_id']}.mp4")
        for entry in entries
        for inst in entry["instances"]
    ]
    return Corpus(manifest, video_dir, len(files), tuple(files))


def replicate(corpus: Corpus, factor: int, folder: str) -> Corpus:
    """The corpus `factor` times over (hard links under new video ids): more clips, same videos."""
    video_dir = os.path.join(folder, "videos")
    os.makedirs(video_dir, exist_ok=True)
    with open(corpus.manifest, encoding="utf-8") as f:
        entries = json.load(f)
    out = []
    for entry in entries:
        instances = []
        for copy in range(factor):
            for original in entry["instances"]:
                inst = dict(original, video_id=f"{original['video_id']}r{copy}")
                inst["instance_id"] = len(instances)
                instances.append(inst)
                src = os.path.join(corpus.video_dir, f"{original['video_id']}.mp4")
                dst = os.path.join(video_dir, f"{inst['video_id']}.mp4")
                if not os.path.exists(dst):
                    try:
                        os.link(src, dst)
                    except OSError:
                        shutil.copyfile(src, dst)
        out.append({"gloss": entry["gloss"], "instances": instances})
    manifest = os.path.join(folder, "WLASL_v0.3.json")
    with open(manifest, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)
    return _corpus(manifest, video_dir, out)


# ------------------------------------------------------------------------------------- ffmpeg
def ffmpeg_decode(files, cpus: set[int] | None) -> dict:
    """ffmpeg's CLI decoding each file to null on one decoder thread (and `cpus`), in sequence.

    `seconds` sums ffmpeg's own -benchmark real time (decoding, without process start-up: the
    stricter floor); `wall_seconds` includes starting one ffmpeg process per file.
    """
    import imageio_ffmpeg

    exe = imageio_ffmpeg.get_ffmpeg_exe()
    preexec = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    rtime = utime = 0.0
    started = time.perf_counter()
    for path in files:
        done = subprocess.run(
            [exe, "-hide_banner", "-nostdin", "-benchmark", "-threads", "1", "-i", path,
             "-map", "0:v:0", "-f", "null", "-"],
            capture_output=True, text=True, preexec_fn=preexec, check=False,
        )  # fmt: skip
        match = re.search(r"utime=([\d.]+)s stime=([\d.]+)s rtime=([\d.]+)s", done.stderr)
        if done.returncode or not match:
            raise RuntimeError(f"ffmpeg failed on {path}: {done.stderr[-500:]}")
        utime += float(match.group(1)) + float(match.group(2))
        rtime += float(match.group(3))
    wall = time.perf_counter() - started
    n = len(files)
    return {
        "clips": n,
        "seconds": rtime,
        "cpu_seconds": utime,
        "wall_seconds": wall,
        "clips_per_s": n / rtime,
        "clips_per_s_with_process_start": n / wall,
    }


def decoder_stages(files, cpus: set[int] | None, fps=25) -> dict:
    """In-process seconds of the decoder alone and of decode + JPEG record encoding, on `cpus`.

    Pins the calling thread (the decoder's threads are created from it and inherit the mask).
    """
    from preprocess.video.decoder import decode_clip
    from schemas.features import ClipMeta, ClipSchema

    schema = ClipSchema()
    previous = os.sched_getaffinity(0) if cpus else None
    if cpus:
        os.sched_setaffinity(0, cpus)
    try:
        t_decode = t_encode = 0.0
        for path in files:
            t0 = time.perf_counter()
            clip = decode_clip(path, fps=fps)
            t1 = time.perf_counter()
            meta = ClipMeta(
                label=0,
                gloss="g",
                frame_indices=clip.frame_indices,
                num_source_frames=clip.num_source_frames,
            )
            schema.encode(clip.frames, meta)
            t_decode += t1 - t0
            t_encode += time.perf_counter() - t1
    finally:
        if previous:
            os.sched_setaffinity(0, previous)
    n = len(files)
    return {
        "clips": n,
        "decode_seconds": t_decode,
        "encode_seconds": t_encode,
        "decode_clips_per_s": n / t_decode,
        "decode_encode_clips_per_s": n / (t_decode + t_encode),
    }


# ----------------------------------------------------------------------------------- pipeline
def _peak_rss(pid: int) -> int:
    """VmHWM (the kernel's own peak-RSS mark) of a live process, in bytes; 0 if gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


def run_pipeline(
    corpus: Corpus,
    output_dir: str,
    workers: int,
    cpus: set[int] | None,
    extra=(),
    mode: str | None = "multi_processing",
) -> dict:
    """`python -m preprocess` in a subprocess (DirectRunner, `mode` with `workers` workers; mode
    None: the job's own defaults, no running-mode or worker flags).

    Watches the process tree and keeps each process's peak RSS; Beam's SDK workers are the
    processes running `sdk_worker_main`.
    """
    import psutil

    argv = [
        sys.executable, "-m", "preprocess",
        f"--manifest={corpus.manifest}", f"--video_dir={corpus.video_dir}",
        f"--output_dir={output_dir}", "--overwrite",
        *([f"--direct_running_mode={mode}", f"--direct_num_workers={workers}"] if mode else []),
        *extra,
    ]  # fmt: skip
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    preexec = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    peaks: dict[int, int] = {}
    roles: dict[int, str] = {}
    with tempfile.TemporaryFile() as logfile:
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdout=logfile, stderr=subprocess.STDOUT, env=env, preexec_fn=preexec
        )
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.Error:
                tree = []
            for p in tree:
                if p.pid not in roles:
                    try:
                        cmd = " ".join(p.cmdline())
                    except psutil.Error:
                        continue
                    roles[p.pid] = "worker" if "sdk_worker_main" in cmd else "other"
                peaks[p.pid] = max(peaks.get(p.pid, 0), _peak_rss(p.pid))
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        if proc.returncode:
            logfile.seek(0)
            tail = logfile.read().decode("utf-8", "replace")[-3000:]
            raise RuntimeError(f"preprocess failed ({proc.returncode}): {' '.join(argv)}\n{tail}")
    workers_rss = [peaks[p] for p, role in roles.items() if role == "worker" and peaks.get(p)]
    return {
        "workers": workers,
        "one_cpu": bool(cpus),
        "clips": corpus.num_clips,
        "seconds": seconds,
        "main_peak_rss": peaks.get(proc.pid, 0),
        "worker_peak_rss": max(workers_rss, default=0),
        "num_worker_processes": len(workers_rss),
    }


def steady_rate(small: dict, large: dict) -> dict:
    """Clips/s once the job runs, from two runs of different size: start-up cancels out.

    Start-up (Python and TensorFlow imports in the runner and in every worker, worker launch)
    is a fixed ~5-10 s that says nothing about a job of thousands of clips. When the two runs
    differ by less than a tenth of the larger one's time (tiny runs, noise) the difference means
    nothing, and the larger run's end-to-end rate is reported instead (method says which).
    """
    extra_seconds = large["seconds"] - small["seconds"]
    end_to_end = large["clips"] / large["seconds"]
    if extra_seconds > 0.1 * large["seconds"]:
        rate, method = (large["clips"] - small["clips"]) / extra_seconds, "marginal"
    else:
        rate, method = end_to_end, "end_to_end"
    return {"clips_per_s": rate, "method": method, "end_to_end_clips_per_s": end_to_end}


# Pipeline settings compared: (label, workers, pinned to one CPU).
SETTINGS = (
    ("1 worker, 1 core", 1, True),
    ("1 worker, all cores", 1, False),
    ("2 workers, all cores", 2, False),
)


def _dir_bytes(folder: str, suffix: str) -> dict[str, int]:
    return {
        name: os.path.getsize(os.path.join(folder, name))
        for name in sorted(os.listdir(folder))
        if ".tfrecord" in name and name.endswith(suffix)
    }


def record_sizes(corpus: Corpus, folder: str) -> list[dict]:
    """Shard sizes and bytes per clip for each frame encoding, with and without GZIP.

    Runs the real CLI in-process (DirectRunner in_memory, one worker: sizes do not depend on the
    runner) once per encoding; the GZIP shards are the same records written again by the same
    writer with GZIP on, which is what the pipeline's --compression=gzip does.
    """
    import tensorflow as tf

    from preprocess import cli

    results = []
    for encoding in ("jpeg", "png", "raw"):
        out = os.path.join(folder, encoding)
        info = cli.run(
            [
                f"--manifest={corpus.manifest}",
                f"--video_dir={corpus.video_dir}",
                f"--output_dir={out}",
                f"--frame_encoding={encoding}",
                "--direct_running_mode=in_memory",
                "--direct_num_workers=1",
            ],
            save_main_session=False,
        )
        clips = sum(s["examples"] for s in info["splits"].values())
        plain = _dir_bytes(out, ".tfrecord")
        gzipped = {}
        for name in plain:
            path = os.path.join(out, name)
            options = tf.io.TFRecordOptions(compression_type="GZIP")
            with tf.io.TFRecordWriter(path + ".gz", options=options) as writer:
                for record in tf.data.TFRecordDataset(path):
                    writer.write(record.numpy())
            gzipped[name + ".gz"] = os.path.getsize(path + ".gz")
        for compression, shards in (("none", plain), ("gzip", gzipped)):
            total = sum(shards.values())
            results.append(
                {
                    "frame_encoding": encoding,
                    "compression": compression,
                    "clips": clips,
                    "total_bytes": total,
                    "bytes_per_clip": total / clips,
                    "shards": shards,
                    "wlasl_projection_gb": total / clips * WLASL_CLIPS / 1e9,
                }
            )
        shutil.rmtree(out, ignore_errors=True)
    return results


@dataclasses.dataclass(frozen=True)
class PreprocessBenchConfig:
    tiny: bool = False
    repeats: int = 3  # interleaved rounds; medians are reported
    scale: int = 6  # the larger run has `scale` times the clips (marginal throughput)
    rss_scale: int = 10  # the memory check: 10x the clips (tiny: the `scale` runs)
    workdir: str = ""  # '' = a temporary folder, removed afterwards

    def __post_init__(self):
        if self.repeats < 1 or self.scale < 2 or self.rss_scale < 2:
            raise ValueError(f"repeats >= 1, scale >= 2, rss_scale >= 2 expected, got {self}")


def run(config: PreprocessBenchConfig) -> dict:
    """All preprocessing measurements; returns the JSON-ready result."""
    with common.workdir(config.workdir, "bench-preprocess-") as folder:
        return _run(config, folder)


def _run(config: PreprocessBenchConfig, workdir: str) -> dict:
    result = {"benchmark": "preprocess", "tiny": config.tiny, "machine": machine_info()}
    result["config"] = dataclasses.asdict(config)
    started = time.perf_counter()
    base = make_corpus(os.path.join(workdir, "corpus"), config.tiny)
    big = replicate(base, config.scale, os.path.join(workdir, f"corpus-x{config.scale}"))
    result["corpus"] = {"clips": base.num_clips, "scaled_clips": big.num_clips}
    cpus = one_cpu()
    out = os.path.join(workdir, "out")

    # Interleaved rounds: ffmpeg, the decoder in-process, and every pipeline setting at both sizes.
    # Tiny (a test that it runs): two settings, and memory read off the one-worker runs.
    settings = SETTINGS if not config.tiny else (SETTINGS[0], SETTINGS[2])
    rounds = []
    for r in range(config.repeats):
        entry = {
            "ffmpeg": ffmpeg_decode(base.files, cpus),
            "decoder": decoder_stages(base.files, cpus),
        }
        for label, workers, pinned in settings:
            small = run_pipeline(base, out, workers, cpus if pinned else None)
            large = run_pipeline(big, out, workers, cpus if pinned else None)
            entry[label] = {"small": small, "large": large, **steady_rate(small, large)}
        rounds.append(entry)
        log.info("round %d of %d done", r + 1, config.repeats)
    result["rounds"] = rounds

    ffmpeg_rate = median(e["ffmpeg"]["clips_per_s"] for e in rounds)
    ffmpeg_wall_rate = median(e["ffmpeg"]["clips_per_s_with_process_start"] for e in rounds)
    decode_rate = median(e["decoder"]["decode_clips_per_s"] for e in rounds)
    decode_encode_rate = median(e["decoder"]["decode_encode_clips_per_s"] for e in rounds)
    rates = {label: median(e[label]["clips_per_s"] for e in rounds) for label, _, _ in settings}
    end_to_end = {
        label: median(e[label]["end_to_end_clips_per_s"] for e in rounds)
        for label, _, _ in settings
    }
    result["throughput"] = {
        "ffmpeg -threads 1, 1 core (decode time)": ffmpeg_rate,
        "ffmpeg -threads 1, 1 core (incl. process start)": ffmpeg_wall_rate,
        "decoder alone (PyAV), 1 core": decode_rate,
        "decoder + record encoding, 1 core": decode_encode_rate,
        **{f"pipeline, {label}": rates[label] for label in rates},
        **{f"pipeline end to end, {label}": end_to_end[label] for label in end_to_end},
    }

    # Memory: one worker, the corpus and 10x the corpus.
    if config.tiny:
        rss_small, rss_large = (
            rounds[0][SETTINGS[0][0]]["small"],
            rounds[0][SETTINGS[0][0]]["large"],
        )
    else:
        folder = os.path.join(workdir, f"corpus-x{config.rss_scale}")
        huge = replicate(base, config.rss_scale, folder)
        rss_small = run_pipeline(base, out, 1, None)
        rss_large = run_pipeline(huge, out, 1, None)
    result["memory"] = {"small": rss_small, "large": rss_large}

    result["sizes"] = record_sizes(base, os.path.join(workdir, "sizes"))

    # Per-clip ratios per round, then medians: each round's pair was measured side by side.
    def per_round(a, b):
        return median(a(e) / b(e) for e in rounds)

    one_core = "1 worker, 1 core"
    all_one = "1 worker, all cores"
    two = "2 workers, all cores"
    scale = rss_large["clips"] // rss_small["clips"]
    ratios = {
        "pipeline 1 worker (1 core) / ffmpeg 1 thread (1 core)": ratio(
            rates[one_core], ffmpeg_rate, 0.8
        ),
        "decoder alone (1 core) / ffmpeg 1 thread": ratio(decode_rate, ffmpeg_rate),
        "decoder + encoding (1 core) / ffmpeg 1 thread": ratio(decode_encode_rate, ffmpeg_rate),
        "2 workers / 1 worker on 1 core": ratio(rates[two], rates[one_core], 1.7),
        f"worker peak RSS, {scale}x clips / 1x": ratio(
            rss_large["worker_peak_rss"], rss_small["worker_peak_rss"], 1.2, below=True
        ),
    }
    if all_one in rates:
        ratios["pipeline 1 worker (all cores) / ffmpeg 1 thread"] = ratio(
            rates[all_one], ffmpeg_rate
        )
        ratios["2 workers / 1 worker (both on all cores)"] = ratio(rates[two], rates[all_one])
    # Same ratios computed round by round (a check on the medians above).
    ratios["pipeline 1 worker (1 core) / ffmpeg 1 thread (1 core)"]["median_of_rounds"] = per_round(
        lambda e: e[one_core]["clips_per_s"], lambda e: e["ffmpeg"]["clips_per_s"]
    )
    ratios["2 workers / 1 worker on 1 core"]["median_of_rounds"] = per_round(
        lambda e: e[two]["clips_per_s"], lambda e: e[one_core]["clips_per_s"]
    )
    result["ratios"] = ratios
    result["seconds"] = time.perf_counter() - started
    return result


def report(result: dict) -> str:
    """The tables printed by `scripts/benchmark.py preprocess`."""
    lines = [
        f"preprocess benchmark ({'tiny' if result['tiny'] else 'full'}): "
        f"{result['corpus']['clips']} "
        f"clips (x{result['config']['scale']}: {result['corpus']['scaled_clips']}), "
        f"{result['config']['repeats']} interleaved rounds, medians; "
        f"{result['machine']['nproc']} CPUs ({result['machine']['cpu']})",
        "",
        format_table(["ratio", "value", "target"], ratio_rows(result["ratios"])),
        "",
        format_table(["throughput", "clips/s"], [[k, v] for k, v in result["throughput"].items()]),
        "",
    ]
    mem = result["memory"]
    lines.append(
        format_table(
            ["memory run", "clips", "worker peak RSS (MB)", "main process peak RSS (MB)"],
            [
                [k, m["clips"], m["worker_peak_rss"] / 1e6, m["main_peak_rss"] / 1e6]
                for k, m in mem.items()
            ],
        )
    )
    lines.append("")
    lines.append(
        format_table(
            ["encoding", "compression", "bytes/clip", "shards (bytes)", "WLASL (21,083 clips) GB"],
            [
                [
                    s["frame_encoding"],
                    s["compression"],
                    s["bytes_per_clip"],
                    ", ".join(f"{k}: {v:,}" for k, v in s["shards"].items()),
                    s["wlasl_projection_gb"],
                ]
                for s in result["sizes"]
            ],
        )
    )
    return "\n".join(lines)
