"""`python -m preprocess`: flags in, Beam options through, a summary out.

    python -m preprocess --manifest=build/demo/data/WLASL_v0.3.json \
        --video_dir=build/demo/data/videos --output_dir=/tmp/records
    python -m preprocess --manifest=clips.csv --output_dir=/tmp/records --frame_encoding=png \
        --compression=gzip --direct_num_workers=1
    python -m preprocess --manifest=WLASL_v0.3.json --video_dir=gs://BUCKET/videos \
        --output_dir=gs://BUCKET/records --top_k_glosses=100 --runner=DataflowRunner \
        --project=PROJECT --region=us-central1 --temp_location=gs://BUCKET/tmp \
        --setup_file=./setup.py

Any other flag must be a Beam pipeline option (--runner, --direct_num_workers, --project, …);
anything else is refused before the job starts (exit 2), naming the closest real flag.
Without --runner it runs locally (Beam's FnApiRunner), offline: one process, one Beam worker,
decoding a video per core at once (`LOCAL_RUNNING_MODE`).
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import errno
import json
import logging
import os
import re
import signal
import sys
import tempfile
from collections import Counter

import apache_beam as beam
from apache_beam.options.pipeline_options import (
    DirectOptions,
    PipelineOptions,
    PortableOptions,
    SetupOptions,
    StandardOptions,
    WorkerOptions,
)

from preprocess import manifests, outcome, output_lock, staging
from preprocess.pipeline import (
    DEFAULT_TARGET_SHARD_MB,
    PreprocessConfig,
    build_pipeline,
)
from preprocess.video import registry
from preprocess.video.cores import usable_cpus
from preprocess.video.isolation import ClipLimits
from schemas import console, coverage, fileio, layout
from schemas import dataset_info as info_files
from schemas.features import FRAME_ENCODINGS, ClipSchema

LOCAL_RUNNERS = ("DirectRunner", "direct", "SwitchingDirectRunner", "FnApiRunner")
# Bounds that catch typos (an extra zero) before they cost hours: 20 frames of 150 px is usual.
MAX_NUM_FRAMES = 1000
MAX_SIZE = 4096
# A local run is one process and one Beam worker (--direct_running_mode=in_memory) whose decode
# step keeps a video per core in flight, each in its own isolated decoding process (the CPU work
# of a clip happens there, outside the GIL). Beam's threaded mode (multi_threading), the default
# before, loses or corrupts elements between its worker threads under load: clips silently lost
# with exit 0, or the process blown up to 24 GB (docs/design.md, "Local runs").
LOCAL_RUNNING_MODE = "in_memory"
BEAM_OPTIONS_URL = (
    "https://beam.apache.org/releases/pydoc/current/apache_beam.options.pipeline_options.html"
)


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


def _float(name, ok, expected):
    """argparse type: a number for which ok(value) holds (NaN never does), else `expected`."""

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--{name} must be a number, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"--{name} must be {expected}, got {text}")
        return value

    return parse


def _seconds(name):
    return _float(name, lambda v: 0 <= v < float("inf"), "a finite number >= 0 (0: no limit)")


def _fraction(name):
    return _float(name, lambda v: 0 <= v <= 1, "in [0, 1]")


def _decoder(text):
    # 'module:function' plugs in another decode_clip (the tests' crashing and hanging decoders).
    if text in registry.DECODERS or (":" in text and all(text.partition(":")[::2])):
        return text
    raise argparse.ArgumentTypeError(
        f"--decoder must be one of {', '.join(registry.DECODERS)} (or package.module:function), "
        f"got {text!r}"
    )


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Appends each flag's default to its help, except where the help says it in words."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (
            action.option_strings
            and not action.required
            and action.default not in (None, False, argparse.SUPPRESS)
            and "%(default)" not in text
        ):
            text += " (default: %(default)s)"
        return text


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m preprocess",
        description="Decode sign-language clips into sharded TFRecords (Apache Beam).",
        epilog="Any other --flag must be an Apache Beam pipeline option and goes to Beam:\n"
        "  --runner (default: a local run, offline), --direct_running_mode (default:\n"
        f"  {LOCAL_RUNNING_MODE}), --direct_num_workers (default: one per core; in_memory:\n"
        "  videos decoded at once), --project,\n"
        "  --region, --temp_location, "
        "--setup_file,\n  --num_workers, --machine_type, --experiments, ... All of them:\n"
        f"  {BEAM_OPTIONS_URL}\n"
        "Anything else is refused (exit 2). BUILD.md has Dataflow, Flink and Spark commands.",
        formatter_class=_HelpFormatter,
        allow_abbrev=False,  # a prefix of a flag is a typo here, not a shorthand
    )
    _add_input_flags(parser)
    _add_clip_flags(parser)
    _add_selection_flags(parser)
    _add_shard_flags(parser)
    _add_limit_flags(parser)
    _add_run_flags(parser)
    return parser


def _add_input_flags(parser: argparse.ArgumentParser) -> None:
    """What to read and where to write."""
    parser.add_argument(
        "--manifest",
        required=True,
        help="WLASL_v0.3.json-format file, a CSV (path,label[,split,frame_start,frame_end,...]) "
        "or a folder ROOT/<gloss>/* or ROOT/<split>/<gloss>/* (required)",
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
    parser.add_argument(
        "--output_dir", required=True, help="a new or empty folder, local or gs:// (required)"
    )


def _add_clip_flags(parser: argparse.ArgumentParser) -> None:
    """The clip each record holds, and how its frames are made and stored."""
    parser.add_argument(
        "--num_frames",
        type=_positive_int("num_frames", MAX_NUM_FRAMES),
        default=20,
        help="frames taken from each clip, evenly spaced over it",
    )
    parser.add_argument(
        "--size", type=_positive_int("size", MAX_SIZE), default=150, help="frame side in pixels"
    )
    parser.add_argument(
        "--frame_encoding",
        choices=FRAME_ENCODINGS,
        default="jpeg",
        help="how each frame is stored: jpeg (small), png (lossless), raw (uint8 bytes)",
    )
    parser.add_argument(
        "--jpeg_quality",
        type=_positive_int("jpeg_quality"),
        default=95,
        help="JPEG quality 1-100 (--frame_encoding=jpeg)",
    )
    parser.add_argument(
        "--compression",
        choices=("none", "gzip"),
        default="none",
        help="gzip: smaller shards that TFDS cannot read (our trainer can)",
    )
    parser.add_argument(
        "--decoder",
        type=_decoder,
        default="pyav",
        help="pyav: exact on every tested codec; decord: the original stack's "
        "decoder, wrong on some codecs (see BUILD.md)",
    )
    parser.add_argument(
        "--crop",
        choices=info_files.CROPS,
        default="none",
        help="bbox: crop to WLASL's box first",
    )


def _add_selection_flags(parser: argparse.ArgumentParser) -> None:
    """Which glosses and splits of the manifest are written."""
    parser.add_argument(
        "--top_k_glosses",
        type=_positive_int("top_k_glosses"),
        default=None,
        help="keep the manifest's first K glosses (WLASL100: 100) (default: all)",
    )
    parser.add_argument(
        "--splits", default=None, help="comma-separated subset of train,val,test (default: all)"
    )


def _add_shard_flags(parser: argparse.ArgumentParser) -> None:
    """How each split is cut into shards."""
    parser.add_argument(
        "--target_shard_mb",
        type=_positive_int("target_shard_mb"),
        default=DEFAULT_TARGET_SHARD_MB,
        help="shard size aimed at when --num_shards is not given, in MB",
    )
    parser.add_argument(
        "--num_shards",
        type=_positive_int("num_shards"),
        default=None,
        help="shards per split (default: chosen from the data size, --target_shard_mb each)",
    )


def _add_limit_flags(parser: argparse.ArgumentParser) -> None:
    """What one clip may cost, and how many failures a run may have."""
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


def _add_run_flags(parser: argparse.ArgumentParser) -> None:
    """The output folder's earlier contents, and the console."""
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="delete an earlier run's files in --output_dir instead of refusing to mix with them "
        "(default: off)",
    )
    parser.add_argument(
        "--verbosity",
        type=console.parse_verbosity,
        default=console.DEFAULT_VERBOSITY,
        help="warning: our lines, the progress line and warnings only; info: also Beam's and "
        "TensorFlow's INFO lines, from every worker; debug: everything (absl's -1, 0, 1 work too)",
    )


def check_beam_args(beam_args: list[str], parser: argparse.ArgumentParser) -> None:
    """Refuses an argument that is neither ours nor a Beam pipeline option (a typo, usually).

    Beam itself only logs "Discarding unparseable args" and runs on. Beam's public
    `PipelineOptions.get_all_options` lists every option of every registered PipelineOptions class
    (runner-specific ones included); with retain_unknown_options=True it also returns the ones it
    does not know, which are the ones refused here.
    """
    from apache_beam.options.pipeline_options import PipelineOptions

    known = set(PipelineOptions([]).get_all_options())
    given = set(PipelineOptions(beam_args).get_all_options(retain_unknown_options=True))
    not_beam = given - known
    unknown = [
        arg
        for arg in beam_args
        if arg.startswith("-") and arg.lstrip("-").split("=", 1)[0].replace("-", "_") in not_beam
    ]
    # A bare word that no option before it takes as its value.
    for i, arg in enumerate(beam_args):
        previous = beam_args[i - 1] if i else ""
        if not arg.startswith("-") and (not previous.startswith("-") or "=" in previous):
            unknown.append(arg)
    if not unknown:
        return
    ours = sorted(set(re.findall(r"--\w+", parser.format_help())))
    candidates = ours + [f"--{name}" for name in sorted(known)]
    arg = unknown[0]
    name = arg.split("=", 1)[0]
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise UsageError(
        f"unknown flag {arg}{hint}: not a flag of python -m preprocess (see --help) nor an "
        f"Apache Beam pipeline option ({BEAM_OPTIONS_URL})"
        + (f"; also unknown: {' '.join(unknown[1:])}" if unknown[1:] else "")
    )


def beam_options(beam_args: list[str]) -> PipelineOptions:
    """Beam's options, defaulting to an offline local run on every core (see `local_runner`)."""
    options = PipelineOptions(beam_args)
    standard = options.view_as(StandardOptions)
    if standard.runner is None:
        standard.runner = "DirectRunner"
    if standard.runner in LOCAL_RUNNERS:
        direct = options.view_as(DirectOptions)
        given = " ".join(beam_args)
        if "--direct_running_mode" not in given:
            direct.direct_running_mode = LOCAL_RUNNING_MODE
        if "--direct_num_workers" not in given:
            direct.direct_num_workers = usable_cpus()
        if "--default_sdk_harness_log_level" not in given:
            # Worker processes otherwise log every bundle at INFO to the user's terminal.
            options.view_as(WorkerOptions).default_sdk_harness_log_level = "WARNING"
    return options


def runs_on_this_machine(options: PipelineOptions) -> bool:
    """Whether the job's workers share this machine's disk (local runners, LOOPBACK workers)."""
    if options.view_as(StandardOptions).runner in LOCAL_RUNNERS:
        return True
    return options.view_as(PortableOptions).environment_type == "LOOPBACK"


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
    if not fileio.isdir(output_dir):
        return []
    return sorted(n for n in fileio.listdir(output_dir) if layout.is_run_file(n))


def _started_by(output_dir: str) -> list[str] | None:
    """The command line of the run that started writing into output_dir, if it left one."""
    path = layout.join(output_dir, layout.STARTED_JSON)
    try:
        with fileio.open_file(path) as f:
            return json.load(f).get("argv")
    except (*fileio.error_types(), ValueError, AttributeError):
        return None


def check_output_path(output_dir: str) -> None:
    """--output_dir must be a folder or not exist yet: a file there is a typo, said in one line."""
    if fileio.exists(output_dir) and not fileio.isdir(output_dir):
        raise UsageError(f"--output_dir {output_dir} is a file, not a folder: name a new or "
                         "empty folder")  # fmt: skip
    parent = os.path.dirname(output_dir.rstrip("/"))
    if not fileio.is_remote(output_dir) and parent and os.path.isfile(parent):
        raise UsageError(f"--output_dir {output_dir}: {parent} is a file, not a folder")


def prepare_output_dir(output_dir: str, overwrite: bool, argv: list[str] = ()) -> None:
    """Refuses to mix with an earlier run's shards unless told to replace them.

    A run of the same command that was cut short (killed, pre-empted: files but no
    dataset.json) is started again from scratch: its partial files cannot be trusted, and
    the command says what the user wants.
    """
    existing = _our_files(output_dir)
    finished = layout.DATASET_JSON in existing
    if existing and not finished and layout.FAILED_JSON in existing and not overwrite:
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
        path = layout.join(output_dir, name.rstrip("/"))
        if fileio.isdir(path):
            fileio.rmtree(path)
        else:
            fileio.remove(path)
    fileio.makedirs(output_dir)
    path = layout.join(output_dir, layout.STARTED_JSON)
    with fileio.open_file(path + ".tmp", "w") as f:
        f.write(json.dumps({"argv": list(argv)}, ensure_ascii=False) + "\n")
    fileio.rename(path + ".tmp", path, overwrite=True)


def decode_parallelism(options: PipelineOptions) -> int:
    """Videos one Beam worker decodes at once: --direct_num_workers for the in-process local run
    (Beam itself then runs one worker: `beam_workers`), 1 elsewhere (a worker per core)."""
    if options.view_as(StandardOptions).runner not in LOCAL_RUNNERS:
        return 1
    direct = options.view_as(DirectOptions)
    if direct.direct_running_mode != "in_memory":
        return 1
    return max(1, direct.direct_num_workers or usable_cpus())


def beam_workers(options: PipelineOptions) -> PipelineOptions:
    """The options Beam itself gets: in_memory runs one worker (more is a warning there), the
    parallelism going to the decode step instead (`decode_parallelism`)."""
    direct = options.view_as(DirectOptions)
    if (
        options.view_as(StandardOptions).runner in LOCAL_RUNNERS
        and direct.direct_running_mode == "in_memory"
    ):
        direct.direct_num_workers = 1
    return options


def decoder_threads(options: PipelineOptions) -> int:
    """Decoding threads per clip that keep every core busy without oversubscribing it.

    N workers that each decode with a thread per core fight over the cores: measured, two
    single-threaded workers decode twice as fast as one, while two workers with a thread per
    core gained under 1.5x (BENCHMARKS.md). Dataflow and other runners run a worker process per
    core already.
    """
    if options.view_as(StandardOptions).runner not in LOCAL_RUNNERS:
        return 1
    cores = usable_cpus()
    workers = options.view_as(DirectOptions).direct_num_workers or cores
    return max(1, cores // max(workers, decode_parallelism(options)))


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


@dataclasses.dataclass
class RunState:
    """What a run has done so far: what an interrupted run tells the user."""

    output_dir: str = ""
    output_started: bool = False


def _describe(path: str, manifest, options: PipelineOptions, output_dir: str) -> list[str]:
    """The lines that say what the run is about to do."""
    per_split = Counter(clip.split for clip in manifest.clips)
    splits = ", ".join(f"{split} {n}" for split, n in sorted(per_split.items()))
    lines = [
        f"{path}: read as {manifest.format or 'a'} manifest: {len(manifest.clips)} clips of "
        f"{len(manifest.glosses)} glosses ({splits})"
    ]
    runner = options.view_as(StandardOptions).runner
    if runner in LOCAL_RUNNERS:
        direct = options.view_as(DirectOptions)
        n = direct.direct_num_workers
        if direct.direct_running_mode == "in_memory":
            how = (
                f"in this process, {n} video{'s' if n != 1 else ''} decoded at once "
                "(--direct_running_mode=in_memory)"
            )
        elif direct.direct_running_mode == "multi_threading":
            how = (
                f"in this process, {n} worker thread{'s' if n != 1 else ''} "
                "(--direct_running_mode=multi_threading)"
            )
            logging.warning(
                "Beam's multi_threading mode loses clips under load (docs/design.md, \"Local "
                'runs"); a run that loses one fails. The default (in_memory) does not'
            )
        else:
            how = (
                f"on {n} worker process{'es' if n != 1 else ''} "
                f"(--direct_running_mode={direct.direct_running_mode})"
            )
        lines.append(f"writing {output_dir}, running locally {how}")
    else:
        where = "" if runs_on_this_machine(options) else "; progress: the runner's UI (BUILD.md)"
        lines.append(f"writing {output_dir}, running on {runner}{where}")
    return lines


def _say(console_out, line: str) -> None:
    if console_out is not None:
        console_out.write_line(line)


def run(argv=None, save_main_session=True, console_out=None, state: RunState | None = None) -> dict:
    """Runs the job; returns dataset.json's content. Raises UsageError / ManifestError on bad input.

    `console_out` (a console.StderrFilter) receives the lines saying what the run does and the
    live progress line; without it the run is silent (tests, library use).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    state = state if state is not None else RunState()
    args, beam_args, splits = parse_args(argv)
    config = config_from_args(args)
    # Every manifest error surfaces here, before any video is opened or any file written.
    manifest = manifests.read_manifest(
        args.manifest,
        args.video_dir,
        manifest_format=args.manifest_format,
        top_k_glosses=args.top_k_glosses,
        splits=splits,
    )
    options = _pipeline_options(args, beam_args)
    config = dataclasses.replace(
        config,
        decoder_threads=args.decoder_threads or decoder_threads(options),
        decode_parallelism=decode_parallelism(options),
    )
    for line in _describe(args.manifest, manifest, options, args.output_dir):
        _say(console_out, line)
    beam_workers(options)
    state.output_dir = args.output_dir
    check_output_path(args.output_dir)
    with output_lock.holding(args.output_dir):  # before anything in the folder is deleted
        prepare_output_dir(args.output_dir, args.overwrite, argv)
        state.output_started = True
        return _write(args, argv, config, manifest, options, console_out, save_main_session)


def _write(args, argv, config, manifest, options, console_out, save_main_session) -> dict:
    """The run proper, in a folder this process holds: labels, staged clips, the job, checks."""
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
    info, _ = outcome.finish(
        args.output_dir, manifest, max_failed_fraction=args.max_failed_fraction
    )
    _write_tfds_metadata(args.output_dir, info)
    return info


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str], list[str] | None]:
    """(our flags, Beam's flags, --splits as a list or None); UsageError for what argparse's
    types cannot check alone: the --splits list and an installed --decoder."""
    parser = make_parser()
    args, beam_args = parser.parse_known_args(argv)
    check_beam_args(beam_args, parser)
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
        try:
            registry.resolve(args.decoder)  # fails now (e.g. naming decord's extra), not per clip
        except ValueError as e:
            raise UsageError(f"--decoder: {e}") from None
    return args, beam_args, splits


def _pipeline_options(args, beam_args: list[str]) -> PipelineOptions:
    """Beam's options, with the workers' log level following --verbosity unless Beam's own flag
    says otherwise."""
    options = beam_options(beam_args)
    if args.verbosity != console.DEFAULT_VERBOSITY and "--default_sdk_harness_log_level" not in (
        " ".join(beam_args)
    ):
        options.view_as(WorkerOptions).default_sdk_harness_log_level = args.verbosity.upper()
    return options


def _stage_clips(manifest, output_dir: str, options: PipelineOptions) -> staging.StagedClips:
    """Writes the validated clip list the job reads: into the output folder, or a local
    temporary file when local workers would have to read it from gs://."""
    staged_at = staging.staged_path(output_dir)
    if runs_on_this_machine(options) and fileio.is_remote(output_dir):
        # Local workers read a local file: Beam reads gs:// only with apache-beam[gcp] installed.
        fd, staged_at = tempfile.mkstemp(prefix="aslvid2gloss-clips-", suffix=".jsonl")
        os.close(fd)
    return staging.stage_clips(manifest.clips, staged_at)


def _run_job(options, staged, config, num_labels: int, command_line, console_out) -> None:
    """Builds and runs the Beam job, with the live progress line on local runs."""
    progress_path = None
    if runs_on_this_machine(options):
        fd, progress_path = tempfile.mkstemp(prefix="aslvid2gloss-progress-", suffix=".log")
        os.close(fd)
    display = None
    try:
        pipeline = beam.Pipeline(runner=local_runner(options), options=options)
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


def summarize(output_dir: str, info: dict) -> str:
    """The lines printed at the end: where the output is, what failed by reason, how to load it."""
    from preprocess import tfds_metadata

    reasons = Counter()
    errors_path = layout.join(output_dir, layout.ERRORS_JSONL)
    with fileio.open_file(errors_path) as f:
        for line in f:
            if line.strip():
                reasons[json.loads(line)["reason"]] += 1
    lines = [f"wrote {output_dir}"]
    for split, entry in sorted(info["splits"].items()):
        lines.append(
            f"  {split}: {entry['examples']} clips in {entry['shards']} shard(s), "
            f"{entry.get('failures', 0)} failed"
        )
    lines.append(f"  labels: {info['num_labels']} glosses in {layout.LABELS_TXT}")
    if info.get("cuts"):
        cuts = ", ".join(f"{cut}={n}" for cut, n in sorted(info["cuts"].items()))
        layouts = ", ".join(f"{name}={n}" for name, n in sorted(info.get("layouts", {}).items()))
        by_layout = f" (WLASL layouts: {layouts})" if layouts else ""
        lines.append(f"  clips cut by: {cuts}{by_layout}")
    if info.get("num_clamped"):
        lines.append(
            f"  clamped: {info['num_clamped']} clips whose range ran past their video's end"
        )
    report_path = layout.join(output_dir, layout.COVERAGE_JSON)
    if fileio.exists(report_path):
        with fileio.open_file(report_path) as f:
            report = json.load(f)
        lines.append(f"  coverage ({report_path}):")
        lines.append(coverage.format_table(report, info["num_labels"]))
    if reasons:
        detail = ", ".join(f"{reason}={n}" for reason, n in sorted(reasons.items()))
        lines.append(f"  failed clips: {sum(reasons.values())} ({detail}), see {errors_path}")
    else:
        lines.append(f"  failed clips: 0 ({layout.ERRORS_JSONL} is empty)")
    unreadable = tfds_metadata.unreadable_reason(info_files.DatasetInfo.from_json(info))
    if unreadable:
        lines.append(f"  TFDS: no metadata written: {unreadable}")
    elif fileio.exists(layout.join(output_dir, layout.TFDS_FILES[0])):
        lines.append(f"  TFDS: tfds.builder_from_directory({output_dir!r})")
    return "\n".join(lines)


def _stop_workers() -> None:
    """Ends every process this one started (Beam's workers, their decoding children)."""
    import psutil

    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        return
    for child in children:
        try:
            child.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(children, timeout=3)
    for child in alive:
        try:
            child.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=3)


def _interrupted_line(state: RunState) -> str:
    if not state.output_started:
        return "interrupted before anything was written; run the command again to start"
    return (
        f"interrupted: {state.output_dir} holds an unfinished run (no dataset.json); the same "
        "command again starts it over from the beginning (another command refuses the folder "
        "unless given --overwrite)"
    )


def _errno_in(error: BaseException) -> int | None:
    """The errno of the OSError behind `error`: itself, its causes, or (Beam re-raises a worker's
    error as RuntimeError with the text only) '[Errno N]' in its message."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno is not None:
            return error.errno
        found = re.search(r"\[Errno (\d+)\]", str(error))
        if found:
            return int(found.group(1))
        error = error.__cause__ or error.__context__
    return None


def _os_error_line(error: BaseException, state: RunState) -> str:
    """A failed write or read in one line: what happened and where, and what to do."""
    code = _errno_in(error)
    where = getattr(error, "filename", None) or state.output_dir or "the output folder"
    if code == errno.ENOSPC:
        return (
            f"no space left on device writing {where}; free space and run the same command "
            "again (it starts the run over)"
        )
    text = os.strerror(code) if code is not None else str(error)
    return f"{text.lower()}: {where} (--verbosity=debug shows the traceback)"


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbosity = console.verbosity_from_argv(argv)
    console.set_up(verbosity)
    out = console.StderrFilter() if verbosity == console.DEFAULT_VERBOSITY else None
    console_out = (out or console.StderrFilter(noise=())).start()
    state = RunState()

    def interrupt(signum, frame):
        console_out.mute()  # the workers' own last words (tracebacks) are not for the user
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        info = run(argv, console_out=console_out, state=state)
        print(summarize(state.output_dir, info))
        return 0
    except (UsageError, manifests.ManifestError, output_lock.FolderInUse) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        console_out.mute()
        _stop_workers()
        console_out.terminal.write(_interrupted_line(state) + "\n")
        console_out.terminal.flush()
        sys.stdout.flush()
        # Beam's runner threads may still wait on the workers just ended: leave without them.
        os._exit(130)
    except outcome.RunFailed as e:
        output_dir = state.output_dir
        print(summarize(output_dir, e.info))
        print(
            f"error: the run failed: {e}. {output_dir} is not marked finished; fix the cause "
            "and run again (the failed run's files are replaced without --overwrite)",
            file=sys.stderr,
        )
        return 1
    except Exception as e:  # noqa: BLE001 - one line; the traceback is for --verbosity=debug
        if verbosity == "debug":
            raise
        if _errno_in(e) is not None:
            print(f"error: {_os_error_line(e, state)}", file=sys.stderr)
        else:
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            print(f"error: {type(e).__name__}: {first} (--verbosity=debug shows the "
                  "traceback)", file=sys.stderr)  # fmt: skip
        return 1
    finally:
        signal.signal(signal.SIGINT, previous)
        console_out.stop()
