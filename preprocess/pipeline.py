"""The preprocess job: manifest rows → decoded clips → tf.train.Example → deterministic shards.

Runs on a laptop (the default: Beam's local runner in this process, a video per core, offline):

    python -m preprocess --manifest=build/demo/data/WLASL_v0.3.json \
        --video_dir=build/demo/data/videos --output_dir=/tmp/records

or on Google Cloud Dataflow, shipping this package to the workers with --setup_file:

    python -m preprocess --manifest=gs://BUCKET/WLASL_v0.3.json --video_dir=gs://BUCKET/videos \
        --output_dir=gs://BUCKET/records --runner=DataflowRunner --project=PROJECT \
        --region=us-central1 --temp_location=gs://BUCKET/tmp --setup_file=./setup.py
"""

from __future__ import annotations

import apache_beam as beam

from preprocess.config import PreprocessConfig
from preprocess.decode_step import DecodeClipFn, DecodeClips
from preprocess.run_stats import finish_run
from preprocess.shards import WriteShards


def build_pipeline(
    pipeline,
    clips,
    config: PreprocessConfig,
    num_labels: int,
    command_line=(),
    progress_path: str | None = None,
):
    """Adds the whole job to `pipeline`; returns the PCollection holding the run's stats.

    `clips` is a staging.StagedClips (the launcher's validated clip list, staged as a file the job
    reads, so the job graph is the same size for 100 clips or 1,000,000) or a sequence of Clip,
    staged into config.output_dir here. `progress_path`, a file on this machine, receives a line per
    clip for the launcher's progress line (local runs only: see preprocess/progress.py).
    """
    from preprocess import staging

    if not isinstance(clips, staging.StagedClips):
        clips = staging.stage_clips(clips, staging.staged_path(config.output_dir))
    splits = list(clips.splits)
    decoded = (
        pipeline
        | "Clips" >> staging.ReadStagedClips(clips.path)
        | "DecodeClips" >> DecodeClips(config)
    )
    if progress_path:
        from preprocess.progress import NoteProgressFn

        _ = decoded.clips | "NoteWritten" >> beam.ParDo(NoteProgressFn(progress_path, False))
        _ = decoded[DecodeClipFn.FAILED] | "NoteFailed" >> beam.ParDo(
            NoteProgressFn(progress_path, True)
        )
    shard_stats = decoded.clips | "WriteShards" >> WriteShards(config)
    cut_counts = (
        decoded.clips
        | "CutOf" >> beam.Map(lambda c: ((c.split, c.cut, c.layout, c.clamped), 1))
        | "CountCuts" >> beam.CombinePerKey(sum)
    )
    return (
        pipeline
        | "Start" >> beam.Create([None])
        | "Finish"
        >> beam.Map(
            finish_run,
            shard_stats=beam.pvalue.AsList(shard_stats),
            failures=beam.pvalue.AsList(decoded[DecodeClipFn.FAILED]),
            cut_counts=beam.pvalue.AsList(cut_counts),
            config=config,
            splits=splits,
            num_labels=num_labels,
            command_line=command_line,
        )
    )
