"""Issue 12's headline as worded: the whole preprocess job, end to end and with its default
settings, against `ffmpeg -threads 1 -f null` decoding the same whole-file clips with the same
number of processes (one per core), also end to end.

Nothing cancels out here: the job's start-up (Python and Beam, under 1 s since the job stopped
loading TensorFlow; ~5 s before) is in its time, and ffmpeg's process start per file is in
ffmpeg's. Two job sizes show how the start-up
weighs: the benchmark corpus 8 and 16 times over (504 and 1,008 clips), interleaved rounds.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import time

from benchmarks import common
from benchmarks.common import format_table, machine_info, median, ratio, ratio_rows
from benchmarks.preprocess_bench import ffmpeg_decode, make_corpus, replicate, run_pipeline
from preprocess.video.cores import usable_cpus


@dataclasses.dataclass(frozen=True)
class EndToEndBenchConfig:
    tiny: bool = False
    copies: tuple[int, ...] = (8, 16)  # job sizes: the corpus (63 clips) this many times over
    repeats: int = 2  # interleaved rounds; medians are reported
    workdir: str = ""


def ffmpeg_parallel(files: list[str], processes: int) -> float:
    """Wall seconds of ffmpeg decoding every file, `processes` ffmpeg processes at a time."""
    parts = [files[i::processes] for i in range(processes)]
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(processes) as pool:
        list(pool.map(lambda part: ffmpeg_decode(part, None), parts))
    return time.perf_counter() - started


def run(config: EndToEndBenchConfig) -> dict:
    if config.tiny:
        config = dataclasses.replace(config, copies=(2,), repeats=1)
    with common.workdir(config.workdir, "bench-e2e-") as folder:
        return _run(config, folder)


def _run(config: EndToEndBenchConfig, workdir: str) -> dict:
    processes = usable_cpus()  # what the job's default worker pool is sized by
    base = make_corpus(os.path.join(workdir, "corpus"), config.tiny)
    result = {"benchmark": "e2e", "tiny": config.tiny, "machine": machine_info()}
    result.update(config=dataclasses.asdict(config), processes=processes, rounds={})
    ratios, throughput = {}, {}
    for copies in config.copies:
        corpus = replicate(base, copies, os.path.join(workdir, f"x{copies}"))
        rounds = []
        for _ in range(config.repeats):
            floor = ffmpeg_parallel(list(corpus.files), processes)
            # mode None: no running-mode or worker flags, what a user's command line gets.
            job = run_pipeline(corpus, os.path.join(workdir, "out"), processes, None, mode=None)
            rounds.append({"ffmpeg_seconds": floor, "job_seconds": job["seconds"]})
        result["rounds"][corpus.num_clips] = rounds
        n = corpus.num_clips
        job_rate = median(n / r["job_seconds"] for r in rounds)
        floor_rate = median(n / r["ffmpeg_seconds"] for r in rounds)
        name = f"job, {n} clips, end to end / ffmpeg, {processes} processes"
        ratios[name] = ratio(job_rate, floor_rate, 0.9)
        throughput[f"job end to end, {n} clips, default settings"] = job_rate
        throughput[f"ffmpeg -threads 1 x {processes} processes, {n} files (incl. start)"] = (
            floor_rate
        )
    result["ratios"] = ratios
    result["throughput"] = throughput
    return result


def report(result: dict) -> str:
    c = result["config"]
    return "\n".join(
        [
            f"end to end ({'tiny' if result['tiny'] else 'full'}): the job with default settings "
            f"vs ffmpeg, {result['processes']} processes each; {c['repeats']} interleaved "
            f"rounds, medians; {result['machine']['nproc']} CPUs ({result['machine']['cpu']})",
            "",
            format_table(["ratio", "value", "target"], ratio_rows(result["ratios"])),
            "",
            format_table(
                ["throughput", "clips/s"], [[k, v] for k, v in result["throughput"].items()]
            ),
        ]
    )
