"""Digests of the shards two checkouts write for the demo set and the frame-exact corpus.

A refactor that must not change behaviour (issue 19) is checked by running the real command of
each checkout over the same data and comparing every shard and errors.jsonl byte for byte:

    python -m tests.preprocess.shard_identity --before=/tmp/old-checkout --after=.

The data is made once, by this checkout: the synthetic demo set (120 H.264 clips) and the
frame-exact corpus (every codec and container of tests/preprocess/video_corpus.py, plus its broken
files), each corpus file as a whole clip, a frame window and a stated-rate window. Exit 1 when any
file differs.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from preprocess.synthetic import SyntheticConfig, make_dataset
from tests.preprocess import video_corpus


def make_data(folder: Path) -> dict[str, list[str]]:
    """The preprocess arguments of each dataset, by name."""
    demo = make_dataset(str(folder / "demo"), SyntheticConfig())
    corpus = folder / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    videos = video_corpus.write_corpus(corpus)
    splits = ("train", "val", "test")
    rows = ["path,label,split,frame_start,frame_end,fps"]
    for i, (name, _) in enumerate(sorted(videos.items())):
        label = f"g{i % 3}"
        rows.append(f"{name},{label},{splits[i % 3]},1,-1,")
        rows.append(f"{name},{label},{splits[(i + 1) % 3]},3,14,")
        rows.append(f"{name},{label},{splits[(i + 2) % 3]},5,30,25")
    manifest = corpus / "clips.csv"
    manifest.write_text("\n".join(rows) + "\n")
    return {
        "demo": [f"--manifest={demo}", f"--video_dir={folder / 'demo' / 'videos'}"],
        "corpus": [f"--manifest={manifest}", "--num_frames=8", "--size=48"],
    }


def digests(checkout: Path, args: list[str], out: Path) -> dict[str, str]:
    command = [sys.executable, "-m", "preprocess", *args, f"--output_dir={out}", "--overwrite"]
    done = subprocess.run(command, cwd=checkout, capture_output=True, text=True)
    if done.returncode not in (0, 1):  # 1: a run that failed its checks still wrote its files
        raise SystemExit(f"{checkout}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return {
        name: hashlib.sha256((out / name).read_bytes()).hexdigest()
        for name in sorted(os.listdir(out))
        if ".tfrecord" in name or name in ("errors.jsonl", "labels.txt")
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the checkout to compare with")
    parser.add_argument("--after", default=".", help="this checkout (default: .)")
    parser.add_argument("--work_dir", default=None)
    args = parser.parse_args(argv)
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="shard-identity-"))
    datasets = make_data(work / "data")
    differ = 0
    for name, data_args in datasets.items():
        before = digests(Path(args.before).resolve(), data_args, work / f"{name}-before")
        after = digests(Path(args.after).resolve(), data_args, work / f"{name}-after")
        same = before == after and bool(before)
        differ += not same
        print(f"{name}: {len(after)} files, {'identical' if same else 'DIFFERENT'}")
        for file in sorted(set(before) | set(after)):
            if before.get(file) != after.get(file):
                print(f"  {file}: {before.get(file, '-')[:12]} -> {after.get(file, '-')[:12]}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
