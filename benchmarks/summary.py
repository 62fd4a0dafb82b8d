"""The headline table (BENCHMARKS.md, "Headline") from the JSON the stages last wrote.

Each stage takes minutes and wants an idle machine, so they run one at a time; this reads what
they left in build/bench/ and prints one table, each figure with the run it came from, so the
table in the docs can be checked against measurements rather than copied by hand. A stage never
run shows as not measured, with the command that measures it; a --tiny result (small shapes, a
check that the stage runs) is marked as such.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from typing import Callable

from benchmarks.common import format_table

# (ratio, stage, target, how to pick the figure from the stage's "ratios")
Pick = Callable[[dict], tuple[float, str] | None]


def _key(pattern: str) -> Pick:
    def pick(ratios: dict):
        for name, entry in sorted(ratios.items()):
            if re.search(pattern, name):
                return entry["value"], name
        return None

    return pick


def _e2e(ratios: dict):
    """The smallest job of at least 400 clips: the issue's 'end to end, >= 400 clips'."""
    sized = []
    for name, entry in ratios.items():
        match = re.match(r"job, (\d+) clips, end to end", name)
        if match and int(match.group(1)) >= 400:
            sized.append((int(match.group(1)), entry["value"], name))
    if not sized:
        return None
    _, value, name = min(sized)
    return value, name


def _gpu(ratios: dict):
    for name, entry in ratios.items():
        if name.startswith("best (") and name.endswith("/ original 2 clips/s"):
            return entry["numerator"], f"{name} (clips/s)"
    return None


ROWS: list[tuple[str, str, str, Pick]] = [
    ("preprocess ÷ ffmpeg, same whole-file clips and process count, end to end, >= 400 clips",
     "e2e", ">= 0.9", _e2e),
    ("10 clips cut from one long video, one pass ÷ ffmpeg decoding it once", "shared", ">= 0.8",
     _key(r"^one pass for all clips")),
    ("2 workers ÷ 1 worker", "preprocess", ">= 1.7", _key(r"^2 workers / 1 worker on 1 core$")),
    ("input pipeline ÷ decode_jpeg floor", "input", ">= 0.9",
     _key(r"^input pipeline / decode_jpeg alone$")),
    ("fit on the pipeline ÷ same step on in-memory batches", "train", ">= 0.95",
     _key(r"^fit\(input pipeline\) / fit\(in-memory batch\)")),
    ("GPU proxy, best batch, one H100/H200-class GPU (clips/s)", "gpu", ">= 1,000", _gpu),
]  # fmt: skip


def rows(bench_dir: str) -> list[list[str]]:
    table = []
    for label, stage, target, pick in ROWS:
        path = os.path.join(bench_dir, f"{stage}.json")
        measured, source = _measured(path, pick)
        if measured is None:
            measured = f"not measured: python scripts/benchmark.py {stage}"
        table.append([label, target, measured, source])
    return table


def _measured(path: str, pick: Pick) -> tuple[str | None, str]:
    if not os.path.exists(path):
        return None, "-"
    with open(path, encoding="utf-8") as f:
        result = json.load(f)
    when = datetime.datetime.fromtimestamp(os.path.getmtime(path)).strftime("%Y-%m-%d %H:%M")
    source = f"{os.path.basename(path)}, {when}"
    if result.get("tiny") or result.get("config", {}).get("tiny"):
        source += " (--tiny: not a measurement)"
    picked = pick(result.get("ratios", {}))
    if picked is None:
        return None, source
    value, name = picked
    return f"{value:.3g}  ({name})", source


def report(bench_dir: str) -> str:
    return "\n".join(
        [
            f"headline ratios from {bench_dir} (each from the JSON its stage last wrote)",
            "",
            format_table(["ratio", "target", "measured", "from"], rows(bench_dir)),
        ]
    )
