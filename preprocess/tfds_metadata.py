"""Makes a finished output folder a TFDS dataset: `tfds.builder_from_directory(OUT)` loads it.

Runs after the job (workers never import tensorflow-datasets) and writes TFDS's own metadata
files (dataset_info.json, features.json, label.labels.txt) with
`tfds.folder_dataset.write_metadata`. TFDS's feature connectors import TensorFlow, which the rest
of a local job no longer loads (2.5 s of import, 0.7 s of exit), so the launcher starts
`MetadataWriter` as the job starts: a process of its own that imports them while the videos are
decoded and writes when the shards are done (docs/design.md, "Where the work runs").

The shard names stay ours: TFDS reads them through `schemas.tfds_features.FILENAME_TEMPLATE`.
Split sizes come from dataset.json's per-shard record counts, so nothing is read back. GZIP
shards cannot be read by TFDS: nothing is written for them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from preprocess.pipeline import shard_lengths
from schemas import dataset_info as info_files
from schemas import fileio, layout, tfds_features


def unreadable_reason(info: info_files.DatasetInfo) -> str | None:
    """Why TFDS cannot read this output, or None."""
    if info.compression:
        return f"TFDS cannot read {info.compression} TFRecord shards (use --compression=none)"
    if not any(entry.get("shards") for entry in info.splits.values()):
        return "no shard was written"
    return None


def write_tfds_metadata(output_dir: str, description: str = "") -> None:
    """Writes TFDS's metadata for a finished run; raises ValueError if TFDS cannot read it."""
    import tensorflow_datasets as tfds

    info = info_files.read_dataset_info(output_dir)
    reason = unreadable_reason(info)
    if reason:
        raise ValueError(reason)
    labels = info_files.read_labels(output_dir)
    template = tfds.core.ShardedFileTemplate(
        data_dir=output_dir, template=tfds_features.FILENAME_TEMPLATE
    )
    split_infos = []
    for split, entry in sorted(info.splits.items()):
        num_shards, examples = entry.get("shards", 0), entry.get("examples", 0)
        if not num_shards:
            continue  # every clip of the split failed: no file, so no TFDS split
        names = [layout.shard_name(split, i, num_shards) for i in range(num_shards)]
        num_bytes = sum(fileio.size(layout.join(output_dir, n)) for n in names)
        split_infos.append(
            tfds.core.SplitInfo(
                name=split,
                # Older folders' dataset.json has no shard_lengths: the plan deals them alike.
                shard_lengths=info.shard_lengths.get(split) or shard_lengths(examples, num_shards),
                num_bytes=num_bytes,
                filename_template=template.replace(split=split),
            )
        )
    tfds.folder_dataset.write_metadata(
        data_dir=output_dir,
        features=tfds_features.tfds_features(info.clip, labels),
        split_infos=split_infos,
        filename_template=tfds_features.FILENAME_TEMPLATE,
        check_data=False,  # tests/preprocess/test_tfds_output.py reads folders back
        description=description
        or "Sign-language clips written by aslvid2gloss's preprocess job (see dataset.json).",
    )


class MetadataWriter:
    """`write_tfds_metadata` in a process started now, so TensorFlow's import overlaps the job.

    The process imports tensorflow-datasets and TensorFlow, then waits for one output folder on
    its stdin (end of input: nothing to write) and answers one line, "ok" or the error.
    """

    def __init__(self):
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "preprocess.tfds_metadata"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=_child_env(),
        )

    @property
    def pid(self) -> int:
        return self._proc.pid

    def write(self, output_dir: str, timeout: float = 300.0) -> None:
        """Raises RuntimeError with the child's reason when the metadata was not written."""
        try:
            request = json.dumps({"output_dir": output_dir}) + "\n"
            reply, _ = self._proc.communicate(request, timeout)
        except subprocess.TimeoutExpired:
            self.close()
            raise RuntimeError(f"no answer from the TFDS metadata process in {timeout:.0f} s")
        reply = reply.strip()
        if reply != "ok":
            raise RuntimeError(reply or f"the TFDS metadata process exited {self._proc.returncode}")

    def close(self) -> None:
        """Ends the process if it still runs (the job failed, or write was never called)."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        for stream in (self._proc.stdin, self._proc.stdout):
            if stream is not None and not stream.closed:
                stream.close()


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def _serve() -> int:
    import tensorflow  # noqa: F401 - the slow part, done before the job needs the answer
    import tensorflow_datasets  # noqa: F401

    line = sys.stdin.readline()
    if not line:
        return 0
    try:
        write_tfds_metadata(json.loads(line)["output_dir"])
        answer = "ok"
    except Exception as e:  # noqa: BLE001 - the launcher reports it as a warning
        answer = f"{type(e).__name__}: {e}"
    sys.stdout.write(answer.replace("\n", " ") + "\n")
    return 0


if __name__ == "__main__":
    from schemas import console

    console.set_up(console.DEFAULT_VERBOSITY)
    code = _serve()
    sys.stdout.flush()
    sys.stderr.flush()
    # TensorFlow's teardown at exit takes 0.7 s and the launcher waits for this process.
    os._exit(code)
