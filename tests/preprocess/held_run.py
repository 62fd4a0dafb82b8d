"""A preprocess run stopped at a known point: a dataset with one clip the test decoder holds.

The test decoder (tests/preprocess/poison_decoders.py) decodes `wait*` files only once their
`.hold` file is gone, and marks with `.waiting` that it got there: a test kills, interrupts or
races a run while it surely sits mid-run, without guessing a sleep.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from preprocess.synthetic import SyntheticConfig, make_dataset
from tests.waiting import wait_until

POISON = "tests.preprocess.poison_decoders:decode_clip"


def held_dataset(root: Path, config: SyntheticConfig, instance_id: int = 99) -> tuple:
    """(manifest, video folder, the held video): the synthetic set plus a copy of its first
    video, `wait.mp4`, as one more clip of the first gloss; held until the test says so."""
    manifest = make_dataset(str(root), config)
    with open(manifest) as f:
        entries = json.load(f)
    videos = root / "videos"
    held = videos / "wait.mp4"
    first = entries[0]["instances"][0]
    shutil.copy(videos / f"{first['video_id']}.mp4", held)
    entries[0]["instances"].append(dict(first, video_id="wait", instance_id=instance_id))
    with open(manifest, "w") as f:
        json.dump(entries, f)
    open(f"{held}.hold", "w").close()
    return manifest, videos, held


def release(held: Path) -> None:
    os.remove(f"{held}.hold")


def wait_for_held_clip(proc, held: Path, timeout_s: float = 120) -> None:
    """Returns once the run sits on the held clip; fails if it ended before getting there."""
    wait_until(lambda: os.path.exists(f"{held}.waiting") or proc.poll() is not None, timeout_s,
               "the job to reach the held clip")  # fmt: skip
    assert proc.poll() is None, "the job ended before it reached the held clip"
