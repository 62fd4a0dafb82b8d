"""The run proper, between the flags and the summary: what it says, the staged clips, the Beam
job with its progress line, and the checks and metadata after it."""

from __future__ import annotations

import logging
import os
import tempfile
from collections import Counter

import apache_beam as beam
from apache_beam.options.pipeline_options import (
    PipelineOptions,
    SetupOptions,
)

from preprocess import outcome, runner, staging
from preprocess.pipeline import build_pipeline
from schemas import dataset_info as info_files
from schemas import fileio


def describe(path: str, manifest, options: PipelineOptions, output_dir: str) -> list[str]:
    """The lines that say what the run is about to do."""
    per_split = Counter(clip.split for clip in manifest.clips)
    splits = ", ".join(f"{split} {n}" for split, n in sorted(per_split.items()))
    return [
        f"{path}: read as {manifest.format or 'a'} manifest: {len(manifest.clips)} clips of "
        f"{len(manifest.glosses)} glosses ({splits})",
        f"writing {output_dir}, running {runner.where(options)}",
    ]


def write(args, argv, config, manifest, options, console_out, save_main_session) -> tuple:
    """The run proper, in a folder this process holds: labels, staged clips, the job, checks.
    Returns (dataset.json's content, the coverage report) for the summary."""
    info_files.write_labels(args.output_dir, list(manifest.glosses))
    staged = _stage_clips(manifest, args.output_dir, options)
    options.view_as(SetupOptions).save_main_session = save_main_session
    command_line = ["python -m preprocess", *argv]
    try:
        _run_job(options, staged, config, len(manifest.glosses), command_line, console_out)
    finally:
        if staged.path != staging.staged_path(args.output_dir):
            staging.remove(staged)  # a local temporary file: nothing else would remove it
    staging.remove(staged)
    info, report = outcome.finish(
        args.output_dir, manifest, max_failed_fraction=args.max_failed_fraction
    )
    _write_tfds_metadata(args.output_dir, info)
    return info, report


def _stage_clips(manifest, output_dir: str, options: PipelineOptions) -> staging.StagedClips:
    """Writes the validated clip list the job reads: into the output folder, or a local
    temporary file when local workers would have to read it from gs://."""
    staged_at = staging.staged_path(output_dir)
    if runner.runs_on_this_machine(options) and fileio.is_remote(output_dir):
        # Local workers read a local file: Beam reads gs:// only with apache-beam[gcp] installed.
        fd, staged_at = tempfile.mkstemp(prefix="aslvid2gloss-clips-", suffix=".jsonl")
        os.close(fd)
    return staging.stage_clips(manifest.clips, staged_at)


def _run_job(options, staged, config, num_labels: int, command_line, console_out) -> None:
    """Builds and runs the Beam job, with the live progress line on local runs."""
    progress_path = None
    if runner.runs_on_this_machine(options):
        fd, progress_path = tempfile.mkstemp(prefix="aslvid2gloss-progress-", suffix=".log")
        os.close(fd)
    display = None
    try:
        pipeline = beam.Pipeline(runner=runner.local_runner(options), options=options)
        build_pipeline(
            pipeline, staged, config, num_labels, command_line, progress_path=progress_path
        )
        if console_out is not None and progress_path is not None:
            display = _start_display(progress_path, staged.count, console_out)
        pipeline.run().wait_until_finish()
        if display is not None:
            display.stop(finished=True)
            display = None
    finally:
        if display is not None:
            display.stop(finished=False)
        if progress_path is not None and os.path.exists(progress_path):
            os.remove(progress_path)


def _start_display(progress_path: str, total: int, console_out):
    from preprocess import progress

    terminal = console_out.terminal
    display = progress.ProgressDisplay(
        progress.ProgressReader(progress_path),
        total,
        terminal,
        terminal=terminal.isatty(),
        lock=console_out.lock,
    )
    console_out.around_write = display.external_write
    return display.start()


def _write_tfds_metadata(output_dir: str, info: dict) -> None:
    """TFDS's metadata beside the shards; a failure here costs a warning, not the finished run."""
    from preprocess import tfds_metadata

    if tfds_metadata.unreadable_reason(info_files.DatasetInfo.from_json(info)):
        return  # the summary says why
    try:
        tfds_metadata.write_tfds_metadata(output_dir)
    except Exception as e:  # noqa: BLE001 - the shards and dataset.json are written and valid
        logging.warning("TFDS metadata not written (%s: %s); our trainer reads the folder "
                        "all the same", type(e).__name__, e)  # fmt: skip
