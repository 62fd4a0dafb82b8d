"""`python -m preprocess`: flags in, Beam options through, a summary out.

    python -m preprocess --manifest=build/demo/data/WLASL_v0.3.json \
        --video_dir=build/demo/data/videos --output_dir=/tmp/records
    python -m preprocess --manifest=clips.csv --output_dir=/tmp/records --frame_encoding=png \
        --compression=gzip --direct_num_workers=1
    python -m preprocess --manifest=WLASL_v0.3.json --video_dir=gs://BUCKET/videos \
        --output_dir=gs://BUCKET/records --top_k_glosses=100 --runner=DataflowRunner \
        --project=PROJECT --region=us-central1 --temp_location=gs://BUCKET/tmp --setup_file=./setup.py

Flags it does not know are Beam pipeline options (--runner, --direct_num_workers, --project, …).
Without --runner it runs locally (Beam's FnApiRunner) with one worker process per core, offline.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from collections import Counter

import apache_beam as beam
from apache_beam.options.pipeline_options import (
    DirectOptions,
    PipelineOptions,
    WorkerOptions,
    SetupOptions,
    StandardOptions,
)

from schemas import coverage
from schemas import dataset_info as info_files
from schemas.features import FRAME_ENCODINGS, ClipSchema

from preprocess import manifests, outcome
from preprocess.isolation import ClipLimits
from preprocess.pipeline import (
    DEFAULT_TARGET_SHARD_MB,
    RECORDS_DIR,
    RUN_STATS_JSON,
    PreprocessConfig,
    build_pipeline,
)

DECODERS = ("pyav", "decord")
LOCAL_RUNNERS = ("DirectRunner", "direct", "SwitchingDirectRunner", "FnApiRunner")
# Written first by every run; a folder holding it but no dataset.json is a run cut short.
STARTED_JSON = ".preprocess-started.json"
# Bounds that catch typos (an extra zero) before they cost hours: 20 frames of 150 px is usual.
MAX_NUM_FRAMES = 1000
MAX_SIZE = 4096


class UsageError(ValueError):
    """A flag or the output folder is not usable; the message names which and why."""


def _positive_int(name, upper=None, lower=1):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--{name} must be an integer, got {text!r}") from None
        if value < lower:
            raise argparse.ArgumentTypeError(f"--{name} must be >= {lower}, got {value}")
        if upper is not None and value > upper:
            raise argparse.ArgumentTypeError(f"--{name} must be <= {upper}, got {value}")
        return value

    return parse


def _seconds(name):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--{name} must be a number, got {text!r}") from None
        if not value >= 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(
                f"--{name} must be a finite number >= 0 (0: no limit), got {text}"
            )
        return value

    return parse


def _fraction(name):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--{name} must be a number, got {text!r}") from None
        if not 0 <= value <= 1:
            raise argparse.ArgumentTypeError(f"--{name} must be in [0, 1], got {text}")
        return value

    return parse


def _decoder(text):
    # 'module:function' plugs in another decode_clip (the tests' crashing and hanging decoders).
    if text in DECODERS or (":" in text and all(text.partition(":")[::2])):
        return text
    raise argparse.ArgumentTypeError(
        f"--decoder must be one of {', '.join(DECODERS)} (or package.module:function), got {text!r}"
    )


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m preprocess",
        description="Decode sign-language clips into sharded TFRecords (Apache Beam).",
        epilog="Other flags are passed to Beam as pipeline options (--runner, --project, ...).",
    )
    parser.add_argument(
        "--manifest",
        required=True,
        help="WLASL_v0.3.json-format file, a CSV (path,label[,split,frame_start,frame_end,...]) "
        "or a folder ROOT/<gloss>/* or ROOT/<split>/<gloss>/*",
    )
    parser.add_argument(
        "--manifest_format",
        choices=manifests.FORMATS,
        default=None,
        help="how to read --manifest: " + "|".join(manifests.FORMATS) + " (default: detected "
        "from what --manifest points at: *.json wlasl, *.csv csv, an MS-ASL, ASL_Citizen or "
        "AUTSL release folder by its files, any other folder: folder)",
    )
    parser.add_argument(
        "--video_dir",
        help="WLASL JSON: the folder of <video_id>.<ext> files (required); CSV: the base of "
        "relative paths (default: the CSV's folder); folder manifests: leave unset; MS-ASL: the "
        "folder of <YouTube id>.<ext> files (required); ASL Citizen: default <manifest>/videos; "
        "AUTSL: the folder holding train/ val/ test/ (default: the manifest folder)",
    )
    parser.add_argument("--output_dir", required=True, help="a new or empty folder (local or gs://)")
    parser.add_argument(
        "--num_frames", type=_positive_int("num_frames", MAX_NUM_FRAMES), default=20
    )
    parser.add_argument(
        "--size", type=_positive_int("size", MAX_SIZE), default=150, help="frame side in pixels"
    )
    parser.add_argument("--frame_encoding", choices=FRAME_ENCODINGS, default="jpeg")
    parser.add_argument("--jpeg_quality", type=_positive_int("jpeg_quality"), default=95)
    parser.add_argument("--compression", choices=("none", "gzip"), default="none")
    parser.add_argument(
        "--decoder",
        type=_decoder,
        default="pyav",
        help="pyav: exact on every tested codec (default); decord: the original stack's "
        "decoder, wrong on some codecs (see BUILD.md)",
    )
    parser.add_argument(
        "--crop", choices=("none", "bbox"), default="none", help="bbox: crop to WLASL's box first"
    )
    parser.add_argument("--top_k_glosses", type=_positive_int("top_k_glosses"), default=None)
    parser.add_argument(
        "--splits", default=None, help="comma-separated subset of train,val,test (default: all)"
    )
    parser.add_argument(
        "--target_shard_mb", type=_positive_int("target_shard_mb"), default=DEFAULT_TARGET_SHARD_MB
    )
    parser.add_argument(
        "--num_shards",
        type=_positive_int("num_shards"),
        default=None,
        help="shards per split (default: chosen from the data size, --target_shard_mb each)",
    )
    parser.add_argument(
        "--decoder_threads",
        type=_positive_int("decoder_threads"),
        default=None,
        help="FFmpeg threads per clip (default: cores / --direct_num_workers locally, "
        "1 on other runners, which run a worker process per core)",
    )
    parser.add_argument(
        "--clip_timeout_s",
        type=_seconds("clip_timeout_s"),
        default=ClipLimits.timeout_s,
        help="seconds one clip may take to decode before it is failed as 'timeout' (0: no limit)",
    )
    parser.add_argument(
        "--clip_memory_mb",
        type=_positive_int("clip_memory_mb", lower=0),
        default=ClipLimits.memory_mb,
        help="memory (MB) decoding one clip may add; more fails it as 'too_large' (0: no limit)",
    )
    parser.add_argument(
        "--max_video_frames",
        type=_positive_int("max_video_frames", lower=0),
        default=ClipLimits.max_video_frames,
        help="a clip whose container declares more frames to decode is failed as 'too_large' "
        "before decoding (0: no limit)",
    )
    parser.add_argument(
        "--max_failed_fraction",
        type=_fraction("max_failed_fraction"),
        default=None,
        help="fail the run (exit 1, folder not marked finished) when more than this fraction "
        "of its clips failed, e.g. 0.05 (default: no limit; a run that wrote no clip of a split "
        "fails anyway)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="delete an earlier run's files in --output_dir instead of refusing to mix with them",
    )
    return parser


def beam_options(beam_args: list[str]) -> PipelineOptions:
    """Beam's options, defaulting to an offline, all-cores local run (see `local_runner`)."""
    options = PipelineOptions(beam_args)
    standard = options.view_as(StandardOptions)
    if standard.runner is None:
        standard.runner = "DirectRunner"
    if standard.runner in LOCAL_RUNNERS:
        direct = options.view_as(DirectOptions)
        given = " ".join(beam_args)
        if "--direct_running_mode" not in given:
            direct.direct_running_mode = "multi_processing"
        if "--direct_num_workers" not in given:
            direct.direct_num_workers = os.cpu_count() or 1
        if "--default_sdk_harness_log_level" not in given:
            # Worker processes otherwise log every bundle at INFO to the user's terminal.
            options.view_as(WorkerOptions).default_sdk_harness_log_level = "WARNING"
    return options


def local_runner(options: PipelineOptions):
    """The runner object for a local run, or None to let Beam build the one --runner names.

    Beam's DirectRunner first downloads a Prism binary from the internet and runs the job there
    (offline, it logs the failure and falls back). The FnApiRunner it falls back to is the one
    that honours --direct_running_mode and --direct_num_workers, so a local run uses it directly:
    nothing is fetched, nothing is logged, and multi_processing workers pickle every step as
    Dataflow does. --runner=PrismRunner still picks Prism for those who want it.
    """
    if options.view_as(StandardOptions).runner not in LOCAL_RUNNERS:
        return None
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    return FnApiRunner()


def _our_files(output_dir: str) -> list[str]:
    import tensorflow as tf

    if not tf.io.gfile.isdir(output_dir):
        return []
    names = tf.io.gfile.listdir(output_dir)
    ours = {
        info_files.DATASET_JSON,
        info_files.LABELS_TXT,
        info_files.ERRORS_JSONL,
        info_files.COVERAGE_JSON,
        STARTED_JSON,
        RUN_STATS_JSON,
        outcome.FAILED_JSON,
    }
    return sorted(
        n
        for n in names
        if n in ours
        or ".tfrecord" in n
        or n.startswith(f".{info_files.DATASET_JSON}")
        or n.startswith(STARTED_JSON)
        or n.startswith(f"{info_files.COVERAGE_JSON}.")
        or n.rstrip("/") == RECORDS_DIR
    )


def _started_by(output_dir: str) -> list[str] | None:
    """The command line of the run that started writing into output_dir, if it left one."""
    import tensorflow as tf

    path = info_files.join(output_dir, STARTED_JSON)
    try:
        with tf.io.gfile.GFile(path) as f:
            return json.load(f).get("argv")
    except (tf.errors.OpError, ValueError, AttributeError):
        return None


def prepare_output_dir(output_dir: str, overwrite: bool, argv: list[str] = ()) -> None:
    """Refuses to mix with an earlier run's shards unless told to replace them.

    A run of the same command that was cut short (killed, pre-empted: files but no
    dataset.json) is started again from scratch: its partial files cannot be trusted, and
    the command says what the user wants.
    """
    import tensorflow as tf

    existing = _our_files(output_dir)
    finished = info_files.DATASET_JSON in existing
    if existing and not finished and outcome.FAILED_JSON in existing and not overwrite:
        # A run that failed its checks (say, a wrong --video_dir) left nothing worth keeping.
        logging.warning("%s holds a failed run; replacing it", output_dir)
        overwrite = True
    if existing and not finished and not overwrite and _started_by(output_dir) == list(argv):
        logging.warning(
            "%s holds an unfinished run of this same command (killed?); starting it again",
            output_dir,
        )
        overwrite = True
    if existing and not overwrite:
        state = (
            "holds a finished run"
            if finished
            else "holds an unfinished run (no dataset.json) of another command"
        )
        raise UsageError(
            f"--output_dir {output_dir} {state}: {', '.join(existing[:5])}"
            f"{' ...' if len(existing) > 5 else ''}. Use a new folder, or --overwrite to "
            "replace it."
        )
    for name in existing:
        path = info_files.join(output_dir, name.rstrip("/"))
        if tf.io.gfile.isdir(path):
            tf.io.gfile.rmtree(path)
        else:
            tf.io.gfile.remove(path)
    tf.io.gfile.makedirs(output_dir)
    path = info_files.join(output_dir, STARTED_JSON)
    with tf.io.gfile.GFile(path + ".tmp", "w") as f:
        f.write(json.dumps({"argv": list(argv)}, ensure_ascii=False) + "\n")
    tf.io.gfile.rename(path + ".tmp", path, overwrite=True)


def decoder_threads(options: PipelineOptions) -> int:
    """Decoding threads per clip that keep every core busy without oversubscribing it.

    N workers that each decode with a thread per core fight over the cores: measured, two
    single-threaded workers decode twice as fast as one, while two workers with a thread per
    core gained under 1.5x (BENCHMARKS.md). Dataflow and other runners run a worker process per
    core already.
    """
    if options.view_as(StandardOptions).runner not in LOCAL_RUNNERS:
        return 1
    cores = os.cpu_count() or 1
    workers = options.view_as(DirectOptions).direct_num_workers or cores
    return max(1, cores // workers)


def config_from_args(args) -> PreprocessConfig:
    if args.jpeg_quality > 100:
        raise UsageError(f"--jpeg_quality must be in [1, 100], got {args.jpeg_quality}")
    schema = ClipSchema(
        num_frames=args.num_frames,
        size=args.size,
        frame_encoding=args.frame_encoding,
        jpeg_quality=args.jpeg_quality,
    )
    return PreprocessConfig(
        output_dir=args.output_dir,
        schema=schema,
        compression="GZIP" if args.compression == "gzip" else "",
        decoder=args.decoder,
        crop_bbox=args.crop == "bbox",
        target_shard_bytes=args.target_shard_mb * 1_000_000,
        num_shards=args.num_shards or 0,
        limits=ClipLimits(
            timeout_s=args.clip_timeout_s,
            memory_mb=args.clip_memory_mb,
            max_video_frames=args.max_video_frames,
        ),
    )


def run(argv=None, save_main_session=True) -> dict:
    """Runs the job; returns dataset.json's content. Raises UsageError / ManifestError on bad input."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = make_parser()
    args, beam_args = parser.parse_known_args(argv)
    splits = None
    if args.splits is not None:
        splits = [s.strip() for s in args.splits.split(",") if s.strip()]
        unknown = [s for s in splits if s not in manifests.SPLITS]
        if not splits or unknown:
            raise UsageError(
                f"--splits must be a comma-separated subset of {','.join(manifests.SPLITS)}, "
                f"got {args.splits!r}"
            )
    if args.decoder != "pyav":
        from preprocess.isolation import resolve_decoder

        try:
            resolve_decoder(args.decoder)  # fails now (e.g. naming decord's extra), not per clip
        except ValueError as e:
            raise UsageError(f"--decoder: {e}") from None
    options = beam_options(beam_args)
    config = dataclasses.replace(
        config_from_args(args),
        decoder_threads=args.decoder_threads or decoder_threads(options),
    )
    # Every manifest error surfaces here, before any video is opened or any file written.
    manifest = manifests.read_manifest(
        args.manifest,
        args.video_dir,
        manifest_format=args.manifest_format,
        top_k_glosses=args.top_k_glosses,
        splits=splits,
    )
    print(
        f"{args.manifest}: read as {manifest.format or 'a'} manifest: {len(manifest.clips)} clips, "
        f"{len(manifest.glosses)} glosses",
        file=sys.stderr,
    )
    prepare_output_dir(args.output_dir, args.overwrite, argv)
    info_files.write_labels(args.output_dir, list(manifest.glosses))

    options.view_as(SetupOptions).save_main_session = save_main_session
    command_line = ["python -m preprocess", *argv]
    with beam.Pipeline(runner=local_runner(options), options=options) as pipeline:
        build_pipeline(pipeline, list(manifest.clips), config, len(manifest.glosses), command_line)
    info, _ = outcome.finish(
        args.output_dir, manifest, max_failed_fraction=args.max_failed_fraction
    )
    return info


def summarize(output_dir: str, info: dict) -> str:
    """The lines printed at the end: where the output is and what failed, by reason."""
    import tensorflow as tf

    reasons = Counter()
    errors_path = info_files.join(output_dir, info_files.ERRORS_JSONL)
    with tf.io.gfile.GFile(errors_path) as f:
        for line in f:
            if line.strip():
                reasons[json.loads(line)["reason"]] += 1
    lines = [f"wrote {output_dir}"]
    for split, entry in sorted(info["splits"].items()):
        lines.append(
            f"  {split}: {entry['examples']} clips in {entry['shards']} shard(s), "
            f"{entry.get('failures', 0)} failed"
        )
    lines.append(f"  labels: {info['num_labels']} glosses in {info_files.LABELS_TXT}")
    if info.get("cuts"):
        cuts = ", ".join(f"{cut}={n}" for cut, n in sorted(info["cuts"].items()))
        layouts = ", ".join(f"{name}={n}" for name, n in sorted(info.get("layouts", {}).items()))
        lines.append(f"  clips cut by: {cuts}" + (f" (WLASL layouts: {layouts})" if layouts else ""))
    if info.get("num_clamped"):
        lines.append(
            f"  clamped: {info['num_clamped']} clips whose range ran past their video's end"
        )
    report_path = info_files.join(output_dir, info_files.COVERAGE_JSON)
    if tf.io.gfile.exists(report_path):
        with tf.io.gfile.GFile(report_path) as f:
            report = json.load(f)
        lines.append(f"  coverage ({report_path}):")
        lines.append(coverage.format_table(report, info["num_labels"]))
    if reasons:
        detail = ", ".join(f"{reason}={n}" for reason, n in sorted(reasons.items()))
        lines.append(f"  failed clips: {sum(reasons.values())} ({detail}), see {errors_path}")
    else:
        lines.append(f"  failed clips: 0 ({info_files.ERRORS_JSONL} is empty)")
    return "\n".join(lines)


def main(argv=None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # The local job service repeats each worker's own warnings a second time.
    logging.getLogger("apache_beam.runners.portability.local_job_service").setLevel(logging.ERROR)
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        info = run(argv)
    except (UsageError, manifests.ManifestError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except outcome.RunFailed as e:
        output_dir = make_parser().parse_known_args(argv)[0].output_dir
        print(summarize(output_dir, e.info))
        print(
            f"error: the run failed: {e}. {output_dir} is not marked finished; fix the cause "
            "and run again (the failed run's files are replaced without --overwrite)",
            file=sys.stderr,
        )
        return 1
    output_dir = make_parser().parse_known_args(argv)[0].output_dir
    print(summarize(output_dir, info))
    return 0
