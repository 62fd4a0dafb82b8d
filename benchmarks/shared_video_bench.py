"""Clips cut from one long video (raw WLASL, MS-ASL): one decode for all of them vs the floor.

The floor is ffmpeg's CLI decoding the whole video once on one thread. Measured side by side in
one run, interleaved: (a) decoder.decode_clips serving all clips in one pass, (b) decode_clip per
clip, each decoding from the start as the job did before, (c) the whole preprocess job over a
manifest of those clips. Ratios are floor ÷ ours (1.0 = as fast as decoding once).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction

from benchmarks import common
from benchmarks.preprocess_bench import ffmpeg_decode, one_cpu


@dataclasses.dataclass(frozen=True)
class SharedVideoBenchConfig:
    seconds: int = 60  # length of the long video
    clips: int = 10
    clip_seconds: float = 2.0
    width: int = 480
    height: int = 360
    repeats: int = 3
    tiny: bool = False
    workdir: str = ""


def make_video(path: str, config: SharedVideoBenchConfig) -> None:
    """A 30-fps H.264 video with B-frames and motion, made by ffmpeg's test source."""
    import imageio_ffmpeg

    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f",
         "lavfi", "-i", f"testsrc2=size={config.width}x{config.height}:rate=30",
         "-t", str(config.seconds), "-c:v", "libx264", "-preset", "veryfast",
         "-pix_fmt", "yuv420p", path],
        check=True,
    )  # fmt: skip


def windows(config: SharedVideoBenchConfig) -> list[tuple[Fraction, Fraction]]:
    """`clips` windows spread evenly over the video, the last one ending near its end."""
    step = Fraction(config.seconds) / config.clips
    length = Fraction(config.clip_seconds).limit_denominator(1000)
    return [(i * step + step - length, i * step + step) for i in range(config.clips)]


def write_manifest(folder: str, video: str, config: SharedVideoBenchConfig) -> str:
    """An MS-ASL-style CSV is not a format; a CSV with 30-fps frame numbers is the same cut."""
    path = os.path.join(folder, "clips.csv")
    with open(path, "w", encoding="utf-8") as f:
        f.write("path,label,frame_start,frame_end,fps\n")
        for i, (start, end) in enumerate(windows(config)):
            f.write(f"{video},g{i % 3},{int(start * 30) + 1},{int(end * 30)},30\n")
    return path


def time_decoder(video: str, config: SharedVideoBenchConfig, together: bool) -> float:
    from preprocess.video import decoder, sampling

    requests = [decoder.ClipRequest(sampling.Window.by_time(s, e)) for s, e in windows(config)]
    started = time.perf_counter()
    if together:
        results = decoder.decode_clips(video, requests, threads=1)
    else:
        results = [decoder.decode_clips(video, [r], threads=1)[0] for r in requests]
    elapsed = time.perf_counter() - started
    bad = [r for r in results if isinstance(r, Exception)]
    if bad:
        raise RuntimeError(f"decoding failed: {bad[0]}")
    return elapsed


def time_job(folder: str, manifest: str, run: int) -> float:
    out = os.path.join(folder, f"out{run}")
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "preprocess", f"--manifest={manifest}", f"--output_dir={out}",
         "--direct_num_workers=1", "--decoder_threads=1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - started


def run(config: SharedVideoBenchConfig) -> dict:
    if config.tiny:
        config = dataclasses.replace(config, seconds=10, clips=4, width=160, height=120, repeats=1)
    with tempfile.TemporaryDirectory(dir=config.workdir or None) as folder:
        video = os.path.join(folder, "long.mp4")
        make_video(video, config)
        manifest = write_manifest(folder, video, config)
        cpus = one_cpu()
        rounds = {"ffmpeg": [], "together": [], "alone": [], "job": []}
        for i in range(config.repeats):  # interleaved: a noisy moment hits every variant
            rounds["ffmpeg"].append(ffmpeg_decode([video], cpus)["seconds"])
            rounds["together"].append(time_decoder(video, config, together=True))
            rounds["alone"].append(time_decoder(video, config, together=False))
            rounds["job"].append(time_job(folder, manifest, i))
    seconds = {name: common.median(values) for name, values in rounds.items()}
    return {
        "machine": common.machine_info(),
        "config": dataclasses.asdict(config),
        "seconds": seconds,
        "rounds": rounds,
        "ratios": {
            "one pass for all clips ÷ ffmpeg once (decoder)": common.ratio(
                seconds["ffmpeg"], seconds["together"], 0.8
            ),
            "each clip from the start ÷ ffmpeg once (decoder, before)": common.ratio(
                seconds["ffmpeg"], seconds["alone"]
            ),
            "whole preprocess job ÷ ffmpeg once (end to end)": common.ratio(
                seconds["ffmpeg"], seconds["job"], 0.8
            ),
        },
    }


def report(result: dict) -> str:
    c = result["config"]
    lines = [
        f"{c['clips']} clips of {c['clip_seconds']} s from one {c['seconds']} s "
        f"{c['width']}x{c['height']} H.264 video; medians of {c['repeats']} interleaved rounds",
        common.format_table(["variant", "seconds"], [[k, v] for k, v in result["seconds"].items()]),
        "",
        common.format_table(
            ["ratio (floor ÷ ours)", "value", "target"], common.ratio_rows(result["ratios"])
        ),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    out = run(SharedVideoBenchConfig())
    print(report(out))
    print(json.dumps(out["seconds"]))
