"""The Beam job end to end on real videos: shards, dataset.json, errors, determinism, refusals."""

import hashlib
import json
import os
import subprocess
import sys
import tarfile

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
from apache_beam.options.pipeline_options import DirectOptions
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from preprocess import cli, decode_step, flags, job, manifests, pipeline, runner, shards
from preprocess.config import PreprocessConfig
from preprocess.synthetic import SyntheticConfig, make_dataset
from schemas import dataset_info, features, layout
from schemas.features import ClipSchema

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMALL = ["--num_frames=6", "--size=32"]
IN_MEMORY = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """3 glosses × 4 clips of real H.264 plus a broken, an empty and a missing video."""
    root = tmp_path_factory.mktemp("synthetic")
    manifest = make_dataset(
        str(root), SyntheticConfig(num_classes=3, clips_per_class=4, width=48, height=48, seed=3)
    )
    with open(manifest) as f:
        entries = json.load(f)
    videos = root / "videos"
    # Seeded: the same "broken" bytes every run, so a failure reproduces.
    (videos / "broken.mp4").write_bytes(np.random.default_rng(3).bytes(2000))
    (videos / "empty.mp4").write_bytes(b"")
    good = entries[0]["instances"][0]
    for video_id in ("broken", "empty", "missing"):
        entries[1]["instances"].append(
            dict(good, video_id=video_id, instance_id=100 + len(entries[1]["instances"]))
        )
    with open(manifest, "w") as f:
        json.dump(entries, f)
    return manifest, str(videos)


def _run(manifest, video_dir, out, *extra):
    argv = [f"--manifest={manifest}", f"--video_dir={video_dir}", f"--output_dir={out}"]
    return cli.run([*argv, *SMALL, *IN_MEMORY, *extra])


def _read_split(out, split, schema, compression=""):
    files = sorted(tf.io.gfile.glob(os.path.join(out, layout.shard_pattern(split, compression))))
    ds = tf.data.TFRecordDataset(files, compression_type=compression).map(
        lambda r: schema.parse(r, float_frames=False)
    )
    return files, list(ds.as_numpy_iterator())


def _digest(folder):
    return {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
        for name in sorted(os.listdir(folder))
        if ".tfrecord" in name or name in ("labels.txt", "errors.jsonl")
    }


def test_writes_every_good_clip_and_records_every_bad_one(dataset, tmp_path):
    manifest, video_dir = dataset
    out = tmp_path / "out"
    info = _run(manifest, video_dir, out)

    expected = manifests.read_manifest(manifest, video_dir).clips
    good = [c for c in expected if c.video_id not in ("broken", "empty", "missing")]
    schema = ClipSchema(num_frames=6, size=32)
    seen = []
    for split in ("train", "val", "test"):
        files, records = _read_split(str(out), split, schema)
        assert files, f"no shard for {split}"
        assert info["splits"][split]["examples"] == len(records)
        for r in records:
            assert r[features.SPLIT].decode() == split
            assert r[features.FRAMES].shape == (6, 32, 32, 3)
            assert len(r[features.FRAME_INDICES]) == 6
            assert r[features.NUM_SOURCE_FRAMES] > 0
            seen.append(r[features.VIDEO_ID].decode())
    assert sorted(seen) == sorted(c.video_id for c in good), "each good clip exactly once"

    rows = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    reasons = {row["video_id"]: row["reason"] for row in rows}
    assert reasons == {
        "broken": reasons["broken"],
        "empty": "empty_file",
        "missing": "missing_file",
    }
    assert reasons["broken"] in ("not_a_video", "decode_failed", "truncated")
    assert all(row["path"] and row["clip_id"] and row["detail"] for row in rows)

    assert info["num_failures"] == 3
    assert info["num_labels"] == 3
    assert info["num_frames"] == 6 and info["size"] == 32 and info["frame_encoding"] == "jpeg"
    assert (out / "labels.txt").read_text().splitlines() == ["circle", "left-right", "up-down"]
    assert dataset_info.read_dataset_info(str(out)).splits == info["splits"]
    assert not [n for n in os.listdir(out) if n.endswith(".tmp")]
    assert layout.RECORDS_DIR not in os.listdir(out), "records wait there only until written"


def test_labels_follow_manifest_gloss_order_and_top_k(dataset, tmp_path):
    manifest, video_dir = dataset
    out = tmp_path / "out"
    info = _run(manifest, video_dir, out, "--top_k_glosses=2", "--splits=train")
    assert (out / "labels.txt").read_text().splitlines() == ["circle", "left-right"]
    assert set(info["splits"]) == {"train"}
    _, records = _read_split(str(out), "train", ClipSchema(num_frames=6, size=32))
    for r in records:
        assert r[features.LABEL] in (0, 1)
        assert r[features.GLOSS].decode() == ["circle", "left-right"][r[features.LABEL]]


@pytest.mark.parametrize("encoding, compression", [("jpeg", "none"), ("raw", "gzip")])
def test_same_input_gives_byte_identical_shards(dataset, tmp_path, encoding, compression):
    manifest, video_dir = dataset
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        _run(
            manifest,
            video_dir,
            out,
            f"--frame_encoding={encoding}",
            f"--compression={compression}",
            "--num_shards=2",
        )
        runs.append(_digest(out))
    assert runs[0] == runs[1]
    suffix = ".tfrecord.gz" if compression == "gzip" else ".tfrecord"
    assert sum(name.endswith(suffix) for name in runs[0]) == 6  # 2 shards × 3 splits


def test_shard_count_from_flag_and_from_size(dataset, tmp_path):
    manifest, video_dir = dataset
    out = tmp_path / "three"
    info = _run(manifest, video_dir, out, "--num_shards=3", "--splits=train")
    files, records = _read_split(str(out), "train", ClipSchema(num_frames=6, size=32))
    assert [os.path.basename(f) for f in files] == [
        f"train-0000{i}-of-00003.tfrecord" for i in range(3)
    ]
    assert info["splits"]["train"] == {"examples": len(records), "shards": 3, "failures": 0}
    # dataset.json counts the records of each shard, in shard order, as the shards hold them.
    per_shard = [sum(1 for _ in tf.data.TFRecordDataset(f)) for f in files]
    assert info["shard_lengths"] == {"train": per_shard} and sum(per_shard) == len(records)
    assert (info["decoder"], info["crop"]) == ("pyav", "none")


def test_plan_splits_by_size_and_covers_every_clip_once():
    items = [(i, f"{i * 7919 % 101:03d}", 40) for i in range(10)]
    plan = dict(shards.plan_split_shards("train", items, target_bytes=100, num_shards=0))
    assert sorted(plan) == list(range(10))
    assert {v[2] for v in plan.values()} == {4}  # 400 bytes / 100 per shard
    assert sorted(v[1] for v in plan.values()) == sorted([0, 1, 2, 3] * 2 + [0, 1])
    few = dict(shards.plan_split_shards("val", items[:2], target_bytes=1, num_shards=0))
    assert {v[2] for v in few.values()} == {2}, "never more shards than clips"


def test_refuses_to_mix_with_an_earlier_run(dataset, tmp_path):
    manifest, video_dir = dataset
    out = tmp_path / "out"
    _run(manifest, video_dir, out, "--splits=val")
    with pytest.raises(flags.UsageError, match="holds a finished run.*--overwrite"):
        _run(manifest, video_dir, out, "--splits=val")
    (out / "dataset.json").unlink()
    with pytest.raises(flags.UsageError, match=r"holds an unfinished run \(no dataset.json\)"):
        _run(manifest, video_dir, out, "--splits=val", "--num_shards=1")  # another command
    info = _run(manifest, video_dir, out, "--splits=test", "--overwrite")
    assert set(info["splits"]) == {"test"}
    assert not list(out.glob("val-*")), "--overwrite removes the older run's shards"


def test_bad_manifest_fails_before_any_output(tmp_path):
    manifest = tmp_path / "clips.csv"
    manifest.write_text("path,label,frame_start,frame_end\na.mp4,book,9,3\n")
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "preprocess", f"--manifest={manifest}", f"--output_dir={out}"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 2
    assert "clips.csv" in result.stderr and "frame_start" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    "flag, message",
    [("--splits=train,dev", "--splits must be"), ("--jpeg_quality=101", "--jpeg_quality")],
)
def test_bad_flags_are_named(dataset, tmp_path, flag, message):
    manifest, video_dir = dataset
    with pytest.raises(flags.UsageError, match=message):
        _run(manifest, video_dir, tmp_path / "out", flag)


def test_decode_clips_transform_routes_failures(dataset, tmp_path):
    manifest, video_dir = dataset
    clips = [c for c in manifests.read_manifest(manifest, video_dir).clips if c.split == "val"]
    bad = ("broken", "empty", "missing")
    config = PreprocessConfig(output_dir=str(tmp_path), schema=ClipSchema(num_frames=4, size=16))
    with test_pipeline.TestPipeline() as p:
        result = p | beam.Create(list(enumerate(clips))) | decode_step.DecodeClips(config)
        assert_that(
            result.clips | beam.Map(lambda c: c.clip_id),
            equal_to([c.clip_id for c in clips if c.video_id not in bad]),
            label="good",
        )
        assert_that(
            result.failed
            | beam.Map(
                lambda kv: (
                    kv[1]["video_id"],
                    kv[1]["reason"] if kv[1]["video_id"] != "broken" else "?",
                )
            ),
            equal_to([("broken", "?"), ("empty", "empty_file"), ("missing", "missing_file")]),
            label="failed",
        )


@pytest.mark.slow
def test_cli_multi_processing_is_quiet_offline_and_matches_in_memory(dataset, tmp_path):
    """Worker processes pickle every step, as Dataflow does, and print nothing of their own.

    Each worker imports TensorFlow and Beam's SDK harness: the console shows neither's start-up
    lines, only ours (what it does, progress, summary). in_memory (the default for a job this
    small) writes the same bytes.
    """
    manifest, video_dir = dataset
    out = tmp_path / "mp"
    result = subprocess.run(
        [sys.executable, "-m", "preprocess", f"--manifest={manifest}", f"--video_dir={video_dir}",
         f"--output_dir={out}", *SMALL, "--num_shards=2", "--direct_running_mode=multi_processing",
         "--direct_num_workers=2"],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"wrote {out}" in result.stdout and "missing_file=1" in result.stdout
    assert "TFDS: tfds.builder_from_directory" in result.stdout
    assert "prism" not in (result.stdout + result.stderr).lower()
    lines = result.stderr.splitlines()
    assert lines[0] == (
        f"{manifest}: read as wlasl manifest: 15 clips of 3 glosses (test 3, train 6, val 6)"
    )
    assert lines[1] == (
        f"writing {out}, running locally on 2 worker processes "
        "(--direct_running_mode=multi_processing)"
    )
    assert lines[-1].startswith("decoded 15/15 clips in ") and "3 failed" in lines[-1]
    assert len(lines) <= 4, lines  # a non-terminal gets a progress line every 30 s at most
    everything = result.stdout + result.stderr
    for noise in ("INFO", "I0000", "absl::InitializeLog", "oneDNN", "cuInit", "cuda", "apitools",
                  "semi_persistent_directory", "Traceback"):  # fmt: skip
        assert noise not in everything, noise
    reference = tmp_path / "ref"
    _run(manifest, video_dir, reference, "--num_shards=2")
    assert _digest(out) == _digest(reference)


def test_default_local_run_decodes_videos_at_once_and_writes_the_one_at_a_time_bytes(
    dataset, tmp_path
):
    """The default local mode: one process, one Beam worker decoding two videos at once here,
    each in its own decoding process; the shards are those of one video at a time."""
    manifest, video_dir = dataset
    out, reference = tmp_path / "pooled", tmp_path / "ref"
    argv = [f"--manifest={manifest}", f"--video_dir={video_dir}", f"--output_dir={out}", *SMALL]
    options = runner.beam_options(["--direct_num_workers=2"])
    assert runner.decode_parallelism(options) == 2
    lines = job.describe(manifest, manifests.read_manifest(manifest, video_dir), options, out)
    assert lines[1] == (
        f"writing {out}, running locally in this process, 2 videos decoded at once "
        "(--direct_running_mode=in_memory)"
    )
    assert runner.beam_workers(options).view_as(DirectOptions).direct_num_workers == 1
    cli.run([*argv, "--num_shards=2", "--direct_num_workers=2"])
    _run(manifest, video_dir, reference, "--num_shards=2")
    assert _digest(out) == _digest(reference)


@pytest.mark.slow
def test_portable_runner_job_api_path_writes_the_same_shards(dataset, tmp_path):
    """The Job API path of Flink, Spark and Dataflow Runner v2, run offline in this process."""
    manifest, video_dir = dataset
    portable, reference = tmp_path / "portable", tmp_path / "ref"
    argv = [f"--manifest={manifest}", f"--video_dir={video_dir}", *SMALL, "--num_shards=2"]
    cli.run([*argv, f"--output_dir={portable}", "--runner=PortableRunner",
             "--job_endpoint=embed", "--environment_type=LOOPBACK"])  # fmt: skip
    _run(manifest, video_dir, reference, "--num_shards=2")
    assert _digest(portable) == _digest(reference)
    assert len([n for n in _digest(portable) if n.endswith(".tfrecord")]) == 6


@pytest.mark.slow
def test_sdist_ships_the_three_packages(tmp_path):
    subprocess.run(
        [sys.executable, "setup.py", "-q", "sdist", "--dist-dir", str(tmp_path)],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (sdist,) = tmp_path.glob("aslvid2gloss-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for package in ("schemas", "preprocess", "training"):
        assert f"{package}/__init__.py" in names
    assert "preprocess/pipeline.py" in names and "schemas/features.py" in names
    assert "setup.py" in names


def test_folder_manifest_mixing_good_and_broken_files_writes_every_good_clip(dataset, tmp_path):
    manifest, video_dir = dataset
    root = tmp_path / "root"
    good = {}
    for gloss, video_ids in (("hello", ["00000", "00001"]), ("thanks", ["01000", "01001"])):
        (root / gloss).mkdir(parents=True)
        for video_id in video_ids:
            target = root / gloss / f"{video_id}.mp4"
            target.write_bytes(open(os.path.join(video_dir, f"{video_id}.mp4"), "rb").read())
            good[f"{gloss}/{video_id}.mp4"] = gloss
    (root / "hello" / "cut.mp4").write_bytes((root / "hello" / "00000.mp4").read_bytes()[:3000])
    (root / "thanks" / "text.avi").write_text("not a video at all\n")
    out = tmp_path / "out"
    info = cli.run([f"--manifest={root}", f"--output_dir={out}", *SMALL, *IN_MEMORY])
    _, records = _read_split(str(out), "train", ClipSchema(num_frames=6, size=32))
    assert sorted(r[features.GLOSS].decode() for r in records) == sorted(good.values())
    assert info["splits"]["train"] == {"examples": 4, "shards": 1, "failures": 2}
    rows = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert {(row["clip_id"], row["reason"]) for row in rows} == {
        ("hello/cut.mp4", "truncated"),
        ("thanks/text.avi", "not_a_video"),
    }


def test_beam_counters_count_written_and_failed_by_reason(dataset, tmp_path):
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.options.pipeline_options import PipelineOptions

    manifest, video_dir = dataset
    clips = [c for c in manifests.read_manifest(manifest, video_dir).clips if c.split == "val"]
    config = PreprocessConfig(output_dir=str(tmp_path), schema=ClipSchema(num_frames=4, size=16))
    p = beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"]))
    pipeline.build_pipeline(p, clips, config, num_labels=3)
    result = p.run()
    result.wait_until_finish()

    def counter(name):
        found = result.metrics().query(MetricsFilter().with_name(name))["counters"]
        return sum(c.committed for c in found)

    assert counter("clips_written") == 3
    assert counter("clips_failed") == 3
    assert counter("failed_missing_file") == 1 and counter("failed_empty_file") == 1
    # The job leaves its stats; the launcher (preprocess.outcome) writes dataset.json from them.
    assert (tmp_path / layout.RUN_STATS_JSON).exists()


def test_local_runs_never_try_to_download_prism(dataset, tmp_path, caplog):
    """Beam's DirectRunner would fetch a Prism binary first; the local default must not."""
    import logging

    manifest, video_dir = dataset
    with caplog.at_level(logging.INFO):
        _run(manifest, video_dir, tmp_path / "out", "--splits=val")
    assert not [r for r in caplog.records if "prism" in r.getMessage().lower()]
    options = runner.beam_options([])
    assert type(runner.local_runner(options)).__name__ == "FnApiRunner"
    assert runner.local_runner(runner.beam_options(["--runner=DataflowRunner"])) is None


def test_decoder_threads_split_the_cores_between_local_workers():
    cores = len(os.sched_getaffinity(0))
    one = runner.beam_options(["--direct_num_workers=1"])
    assert runner.decoder_threads(one) == cores
    many = runner.beam_options([f"--direct_num_workers={cores}"])
    assert runner.decoder_threads(many) == 1
    assert runner.decoder_threads(runner.beam_options(["--runner=DataflowRunner"])) == 1


def test_a_job_pinned_to_one_core_sizes_itself_for_one_core():
    """Under taskset, a cpuset or a pinned container, os.cpu_count() still counts the machine's
    cores: a decoding process per core it cannot use (preprocess/video/cores.py)."""
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(allowed)})
    try:
        options = runner.beam_options([])
        assert options.view_as(DirectOptions).direct_num_workers == 1
        assert runner.decoder_threads(options) == 1
        assert runner.decoder_threads(runner.beam_options(["--direct_num_workers=1"])) == 1
    finally:
        os.sched_setaffinity(0, allowed)


def test_frames_encoded_in_the_decoding_process_give_the_same_shards(dataset, tmp_path):
    """Encoding in the isolated decoder (large jobs) or in the worker (small ones): same bytes."""
    from apache_beam.options.pipeline_options import PipelineOptions

    manifest, video_dir = dataset
    clips = [c for c in manifests.read_manifest(manifest, video_dir).clips if c.split == "train"]
    digests = []
    for encode_in_decoder in (True, False):
        out = tmp_path / f"encode_in_decoder_{encode_in_decoder}"
        config = PreprocessConfig(
            output_dir=str(out),
            schema=ClipSchema(num_frames=4, size=16),
            encode_in_decoder=encode_in_decoder,
        )
        with beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"])) as p:
            pipeline.build_pipeline(p, clips, config, num_labels=3)
        digests.append(_digest(out))
    assert digests[0] == digests[1] and any(".tfrecord" in name for name in digests[0])
