"""The flags of `python -m preprocess`: their types and help, the check of what goes to Beam, and
the config they make.

argparse's types refuse a bad value before anything is read; `check_beam_args` refuses what is
neither ours nor a Beam option, which Beam itself would only log and drop.
"""

from __future__ import annotations

import argparse
import difflib
import re

from preprocess import manifests
from preprocess.config import DEFAULT_TARGET_SHARD_MB, PreprocessConfig
from preprocess.runner import LOCAL_RUNNING_MODE
from preprocess.video import registry
from preprocess.video.limits import ClipLimits
from schemas import console, features
from schemas import dataset_info as info_files
from schemas.features import FRAME_ENCODINGS, ClipSchema

# Bounds that catch typos (an extra zero) before they cost hours: 20 frames of 150 px is usual.
MAX_NUM_FRAMES = 1000
MAX_SIZE = 4096
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
        default=features.NUM_FRAMES,
        help="frames taken from each clip, evenly spaced over it",
    )
    parser.add_argument(
        "--size",
        type=_positive_int("size", MAX_SIZE),
        default=features.SIZE,
        help="frame side in pixels",
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
