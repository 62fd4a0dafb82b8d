"""Every staged clip comes out exactly once, as a record or an error row, or the run fails.

Beam's threaded local mode dropped blocks of failure rows under load and the run still wrote
dataset.json with exit 0 (issue 18). The job here runs for real (Beam, real videos); the loss is
then made as the runner made it, by removing what it dropped from the job's own output before
the launcher's check reads it, so the check is tested on the exact shape of the defect.
"""

import json
import os
import subprocess
import sys

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from preprocess import manifests, outcome, pipeline
from preprocess.config import PreprocessConfig
from preprocess.synthetic import SyntheticConfig, make_dataset
from schemas import layout
from schemas.features import ClipSchema

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    """4 real videos and 30 rows naming files that do not exist (the shape that lost clips)."""
    root = tmp_path_factory.mktemp("accounting")
    make_dataset(str(root / "data"), SyntheticConfig(num_classes=2, clips_per_class=2,
                                                     width=48, height=48))  # fmt: skip
    videos = sorted(os.listdir(root / "data" / "videos"))
    splits = ("train", "val", "test")
    rows = [f"data/videos/{v},g{i % 2},{splits[i % 3]}" for i, v in enumerate(videos)]
    rows += [f"missing/m{i:03d}.mp4,g{i % 2},{splits[i % 3]}" for i in range(30)]
    path = root / "clips.csv"
    path.write_text("path,label,split\n" + "\n".join(rows) + "\n")
    return manifests.read_manifest(str(path))


def _job(manifest, out):
    """The Beam job as the launcher runs it, up to (not including) the launcher's checks."""
    config = PreprocessConfig(output_dir=str(out), schema=ClipSchema(num_frames=4,
                                                                              size=16))  # fmt: skip
    with beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"])) as p:
        pipeline.build_pipeline(p, manifest.clips, config, num_labels=len(manifest.glosses))
    return out


def _lines(path):
    return [line for line in path.read_text().splitlines() if line.strip()]


def test_a_complete_run_passes_and_coverage_counts_what_the_shards_hold(manifest, tmp_path):
    out = _job(manifest, tmp_path / "out")
    info, report = outcome.finish(str(out), manifest)
    assert info["num_failures"] == 30
    assert {split: e["written"] for split, e in report["splits"].items()} == {
        "train": 2, "val": 1, "test": 1,
    }  # fmt: skip
    assert all(e["lost"] == 0 for e in report["splits"].values())
    assert report["accounting"] == {
        "lost": [], "written_twice": [], "written_and_failed": [], "failed_twice": [],
    }  # fmt: skip
    assert (out / layout.DATASET_JSON).exists()
    assert not (out / layout.WRITTEN_JSONL).exists()  # the launcher's working file is gone


def test_failure_rows_the_runner_dropped_fail_the_run_naming_the_clips(manifest, tmp_path):
    out = _job(manifest, tmp_path / "out")
    errors = out / layout.ERRORS_JSONL
    rows = _lines(errors)
    dropped = [json.loads(line)["clip_id"] for line in rows[10:13]]  # a block, as it was lost
    errors.write_text("\n".join(rows[:10] + rows[13:]) + "\n")
    with pytest.raises(outcome.RunFailed, match="3 clips neither in a shard nor in errors.jsonl"):
        outcome.finish(str(out), manifest)
    assert not (out / layout.DATASET_JSON).exists()
    marker = json.loads((out / layout.FAILED_JSON).read_text())
    assert marker["lost"] == dropped
    report = json.loads((out / layout.COVERAGE_JSON).read_text())
    assert sum(e["lost"] for e in report["splits"].values()) == 3
    assert report["accounting"]["lost"] == dropped


def test_a_record_the_writers_never_wrote_is_lost_not_counted_as_written(manifest, tmp_path):
    """Written is counted from the shard writers' ids, never as the manifest less the errors."""
    out = _job(manifest, tmp_path / "out")
    written = out / layout.WRITTEN_JSONL
    rows = _lines(written)
    gone = json.loads(rows[0])["clip_id"]
    written.write_text("\n".join(rows[1:]) + "\n")
    with pytest.raises(outcome.RunFailed) as failed:
        outcome.finish(str(out), manifest)
    assert gone in str(failed.value)
    split = next(c.split for c in manifest.clips if c.clip_id == gone)
    entry = failed.value.report["splits"][split]
    assert entry["lost"] == 1 and entry["written"] + sum(entry["failed"].values()) == (
        entry["in_manifest"] - 1
    )


def test_a_clip_written_twice_or_written_and_failed_fails_the_run(manifest, tmp_path):
    """A clip cut twice is as bad as a clip lost."""
    out = _job(manifest, tmp_path / "out")
    written = out / layout.WRITTEN_JSONL
    rows = _lines(written)
    twice = json.loads(rows[0])["clip_id"]
    written.write_text("\n".join(rows + rows[:1]) + "\n")
    with pytest.raises(outcome.RunFailed, match="in the shards more than once"):
        outcome.finish(str(out), manifest)
    assert json.loads((out / layout.FAILED_JSON).read_text())["written_twice"] == [twice]

    out = _job(manifest, tmp_path / "out2")
    failed_id = json.loads(_lines(out / layout.ERRORS_JSONL)[0])["clip_id"]
    with open(out / layout.WRITTEN_JSONL, "a") as f:
        f.write(json.dumps({"clip_id": failed_id, "shard": "train-00000-of-00001.tfrecord"}) + "\n")
    with pytest.raises(outcome.RunFailed, match="both in a shard and in errors.jsonl"):
        outcome.finish(str(out), manifest)


@pytest.mark.slow
def test_stress_default_runs_under_load_lose_nothing(tmp_path):
    """The bounded version of scripts/stress_preprocess.py: the default local run, repeated with
    a busy process beside it, accounts for every clip and writes the same bytes each time. (The
    threaded mode it replaced lost a block in about one 10,000-row run of eight.)"""
    result = subprocess.run(
        [sys.executable, "scripts/stress_preprocess.py", "--workload=missing", "--rows=4000",
         "--runs=3", "--busy=1", f"--work_dir={tmp_path}", f"--json={tmp_path / 'r.json'}"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    runs = json.loads((tmp_path / "r.json").read_text())["runs"]
    assert len(runs) == 3
    for run in runs:
        assert run["exit_code"] == 0 and not run["lost"] and not run["doubled"]
        assert run["written"] + run["failed"] == 4004
        assert run["peak_mb"] < 1000
    assert len({run["shard_digest"] for run in runs}) == 1
