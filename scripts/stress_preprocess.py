"""Runs the preprocess job many times, under load, and counts what comes out of every run.

A race loses clips in one run of ten; one green run proves nothing. Each run here is the real
command (`python -m preprocess`, its default local mode unless --extra says otherwise), watched
from outside: the peak memory of its whole process tree (a run over --kill_above_mb is killed and
counted as a blow-up), its exit code, the clip ids in its shards and in errors.jsonl against the
manifest's. A run may fail loudly (exit 1, the folder not marked finished); it may never exit 0
with a clip in neither place, a clip in both, or a record twice. Shards of the runs that finished
must be byte-identical.

    python scripts/stress_preprocess.py --workload=missing --rows=50000 --runs=20 --busy=3
    python scripts/stress_preprocess.py --workload=mix --runs=10 --busy=3

--workload=missing: 4 real videos and ROWS rows naming files that do not exist (the shape that
lost clips: tens of thousands of cheap failures racing through the runner). --workload=mix: the
synthetic dataset's real clips with broken files among them (empty, text, truncated). Exit 1 when
any run lost, doubled or corrupted a clip, blew up, or wrote other bytes than the first.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import psutil

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from preprocess import manifests  # noqa: E402
from preprocess.synthetic import SyntheticConfig, make_dataset  # noqa: E402
from schemas import layout  # noqa: E402


@dataclasses.dataclass
class RunResult:
    run: int
    exit_code: int
    seconds: float
    peak_mb: float
    killed: bool = False
    written: int = 0
    failed: int = 0
    lost: list[str] = dataclasses.field(default_factory=list)
    doubled: list[str] = dataclasses.field(default_factory=list)
    shard_digest: str = ""
    said: str = ""

    @property
    def silent_loss(self) -> bool:
        return self.exit_code == 0 and bool(self.lost or self.doubled)


def make_workload(kind: str, rows: int, folder: str) -> str:
    """The manifest (a CSV) of the workload, with its videos, under `folder`."""
    data = os.path.join(folder, "data")
    make_dataset(data, SyntheticConfig(num_classes=5, clips_per_class=8 if kind == "mix" else 1))
    videos = sorted(os.listdir(os.path.join(data, "videos")))
    splits = ("train", "val", "test")
    lines = ["path,label,split"]
    if kind == "missing":
        for i, name in enumerate(videos[:4]):
            lines.append(f"data/videos/{name},g{i % 2},{splits[i % 3]}")
        lines += [f"missing/m{i:07d}.mp4,g{i % 2},{splits[i % 3]}" for i in range(rows)]
    else:
        broken = os.path.join(folder, "broken")
        os.makedirs(broken, exist_ok=True)
        first = os.path.join(data, "videos", videos[0])
        with open(first, "rb") as f:
            head = f.read()
        for name, content in (("empty.mp4", b""), ("text.mp4", b"<html>not a video</html>\n"),
                              ("cut.mp4", head[: len(head) // 2])):  # fmt: skip
            with open(os.path.join(broken, name), "wb") as f:
                f.write(content)
        for i, name in enumerate(videos):
            lines.append(f"data/videos/{name},g{i % 5},{splits[i % 3]}")
        for i, name in enumerate(("empty.mp4", "text.mp4", "cut.mp4")):
            lines.append(f"broken/{name},g{i % 5},{splits[i % 3]}")
    path = os.path.join(folder, f"{kind}.csv")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def _watch(process: subprocess.Popen, kill_above_mb: float, result: RunResult) -> None:
    """Peak RSS of the run's process tree, sampled every 0.1 s; kills the tree over the limit."""
    try:
        root = psutil.Process(process.pid)
    except psutil.Error:
        return
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            rss = sum(p.memory_info().rss for p in tree if p.is_running()) / 2**20
        except psutil.Error:
            rss = 0.0
        result.peak_mb = max(result.peak_mb, rss)
        if kill_above_mb and rss > kill_above_mb:
            result.killed = True
            for p in reversed(tree):
                try:
                    p.kill()
                except psutil.Error:
                    pass
            return
        time.sleep(0.1)


def written_ids(output_dir: str) -> tuple[list[str], str]:
    """(clip id of every record in the shards, one digest of all shard bytes)."""
    import tensorflow as tf

    from schemas import features

    ids, digest = [], hashlib.sha256()
    for name in sorted(os.listdir(output_dir)):
        if ".tfrecord" not in name or name.startswith("."):
            continue
        path = os.path.join(output_dir, name)
        with open(path, "rb") as f:
            digest.update(name.encode() + f.read())
        for record in tf.data.TFRecordDataset(path):
            example = tf.train.Example.FromString(record.numpy())
            ids.append(example.features.feature[features.CLIP_ID].bytes_list.value[0].decode())
    return ids, digest.hexdigest()


def run_once(n: int, manifest: str, expected: set[str], work: str, args) -> RunResult:
    out = os.path.join(work, f"out{n}")
    command = [sys.executable, "-m", "preprocess", f"--manifest={manifest}",
               f"--output_dir={out}", "--overwrite", *args.extra]  # fmt: skip
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    result = RunResult(run=n, exit_code=-1, seconds=0.0, peak_mb=0.0)
    watcher = threading.Thread(target=_watch, args=(process, args.kill_above_mb, result))
    watcher.start()
    stdout, stderr = process.communicate()
    watcher.join()
    result.exit_code = process.returncode
    result.seconds = time.monotonic() - started
    errors = [line for line in stderr.splitlines() if line.startswith("error")]
    result.said = (errors[-1] if errors else "")[:200]
    if result.exit_code != 0 or result.killed:
        return result
    ids, result.shard_digest = written_ids(out)
    with open(os.path.join(out, layout.ERRORS_JSONL), encoding="utf-8") as f:
        failed = [json.loads(line)["clip_id"] for line in f if line.strip()]
    result.written, result.failed = len(ids), len(failed)
    seen = ids + failed
    counts = collections.Counter(seen)
    result.doubled = sorted(i for i, n in counts.items() if n > 1)
    result.lost = sorted(expected - set(seen))
    return result


def _busy(count: int) -> list[subprocess.Popen]:
    """Processes that keep a core each busy, as a loaded laptop or CI machine has."""
    loop = "while True: sum(i * i for i in range(10000))"
    return [subprocess.Popen([sys.executable, "-c", loop]) for _ in range(count)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=("missing", "mix"), default="missing")
    parser.add_argument(
        "--rows", type=int, default=50_000, help="missing rows (--workload=missing)"
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--busy", type=int, default=3, help="busy processes beside each run")
    parser.add_argument("--kill_above_mb", type=float, default=4000,
                        help="kill a run whose tree grows past this (0: never)")  # fmt: skip
    parser.add_argument("--max_peak_mb", type=float, default=1000,
                        help="a finished run above this peak fails")  # fmt: skip
    parser.add_argument("--work_dir", default=None, help="default: a temporary folder")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("extra", nargs="*", help="more flags for the job, after --")
    args = parser.parse_args(argv)
    work = args.work_dir or tempfile.mkdtemp(prefix="aslvid2gloss-stress-")
    os.makedirs(work, exist_ok=True)
    manifest = make_workload(args.workload, args.rows, work)
    expected = {clip.clip_id for clip in manifests.read_manifest(manifest).clips}
    flags = " ".join(args.extra) or "(defaults)"
    print(f"{args.workload}: {len(expected)} clips, {args.runs} runs, {args.busy} busy "
          f"processes beside each, flags: {flags}", flush=True)  # fmt: skip
    busy = _busy(args.busy)
    results = []
    try:
        for n in range(1, args.runs + 1):
            r = run_once(n, manifest, expected, work, args)
            results.append(r)
            state = "KILLED" if r.killed else f"exit {r.exit_code}"
            print(f"run {n:2d}: {state}, {r.seconds:6.1f} s, peak {r.peak_mb:7.0f} MB, "
                  f"written {r.written}, failed {r.failed}, lost {len(r.lost)}, "
                  f"doubled {len(r.doubled)} {r.said}", flush=True)  # fmt: skip
    finally:
        for p in busy:
            p.kill()
    finished = [r for r in results if r.exit_code == 0 and not r.killed]
    digests = {r.shard_digest for r in finished}
    problems = {
        "silent_loss": sum(r.silent_loss for r in results),
        "killed_or_crashed": sum(r.killed or r.exit_code not in (0,) for r in results),
        "over_memory": sum(r.peak_mb > args.max_peak_mb for r in finished),
        "shard_versions": max(0, len(digests) - 1),
    }
    print(f"{len(finished)} of {len(results)} runs finished; peak memory "
          f"{max((r.peak_mb for r in results), default=0):.0f} MB; " +
          ", ".join(f"{k}={v}" for k, v in problems.items()))  # fmt: skip
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"problems": problems,
                       "runs": [dataclasses.asdict(r) for r in results]}, f, indent=1)  # fmt: skip
    return 1 if any(problems.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
