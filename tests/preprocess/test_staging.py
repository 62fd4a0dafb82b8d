"""The clip list staged as a file the job reads: exact round trip, a graph that does not grow."""

import fractions
import json

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from preprocess import manifests, pipeline, shards, staging
from preprocess.config import PreprocessConfig
from schemas import layout
from schemas.features import ClipSchema


def _clips(n):
    return [
        manifests.Clip(
            clip_id=f"{i:07d}",
            path=f"/data/videos/{i:07d}.mp4",
            gloss=f"gloss{i % 100}",
            label=i % 100,
            split=("train", "val", "test")[i % 3],
            frame_start=1 + i % 7,
            frame_end=-1 if i % 2 else 40 + i % 5,
            fps=fractions.Fraction(30000, 1001) if i % 4 == 0 else None,
            video_id=f"{i:07d}",
            instance_id=i,
            bbox=(1, 2, 100, 200) if i % 5 == 0 else None,
            rel_path=f"videos/{i:07d}.mp4",
            url="https://example.com/v.mp4",
        )
        for i in range(n)
    ]


def test_every_field_of_every_clip_survives_staging(tmp_path):
    clips = _clips(40) + [
        manifests.Clip(
            clip_id="window", path="/v/ü.mp4", gloss="café\u200b", label=3, split="val",
            cut="time_window", start_time=fractions.Fraction(1, 3),
            end_time=fractions.Fraction(7, 2), tried=("/v/a.mp4", "/v/a.mkv"),
        ),
    ]  # fmt: skip
    staged = staging.stage_clips(clips, str(tmp_path / layout.STAGED_CLIPS))
    assert staged.count == len(clips) and staged.splits == ("test", "train", "val")
    lines = (tmp_path / layout.STAGED_CLIPS).read_text().splitlines()
    assert json.loads(lines[-1])["clip"]["start_time"] == "1/3"  # Fractions as "n/d"
    back = dict(staging.clip_from_json(line) for line in lines)
    assert [back[i] for i in range(len(clips))] == clips
    assert isinstance(back[0].fps, fractions.Fraction) and isinstance(back[0].bbox, tuple)


def test_the_job_reads_the_staged_file(tmp_path):
    clips = _clips(25)
    staged = staging.stage_clips(clips, str(tmp_path / "clips.jsonl"))
    with beam.Pipeline(runner=FnApiRunner()) as p:
        read = p | staging.ReadStagedClips(staged.path)
        assert_that(read, equal_to(list(enumerate(clips))))


def _graph_bytes(tmp_path, n):
    config = PreprocessConfig(output_dir=str(tmp_path / f"out{n}"), schema=ClipSchema())
    p = beam.Pipeline(options=PipelineOptions([]))
    staged = staging.stage_clips(_clips(n), str(tmp_path / f"clips{n}.jsonl"))
    pipeline.build_pipeline(p, staged, config, num_labels=100, command_line=["x"])
    return len(p.to_runner_api().SerializeToString())


def test_job_graph_is_the_same_size_for_100_or_100000_clips(tmp_path):
    small, large = _graph_bytes(tmp_path, 100), _graph_bytes(tmp_path, 100_000)
    assert abs(large - small) < 10_000, (small, large)


def test_shard_lengths_match_the_shard_plan():
    for examples, count in ((10, 3), (7, 7), (1, 1), (100, 8)):
        items = [(i, f"{i * 7919 % 101:05d}", 1) for i in range(examples)]
        plan = list(shards.plan_split_shards("train", items, target_bytes=1, num_shards=count))
        counted = [sum(1 for _, v in plan if v[1] == s) for s in range(count)]
        assert shards.shard_lengths(examples, count) == counted
