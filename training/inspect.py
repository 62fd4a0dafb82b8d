"""`python -m training.inspect OUT`: checks every record against the contract, counts, draws clips.

    python -m training.inspect build/demo/records
    python -m training.inspect build/demo/records --contact_sheet=contact_sheet.png \
        --split=train --max_clips=10

Prints the records per split and label and every problem found (exit status 1 if any); the
contact sheet has a row per clip: its frames as the model gets them, with the frame index of
each under it, and the clip's gloss, label, video id and instance id.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import logging
import posixpath
import sys

import numpy as np

from schemas import console, coverage, features, layout
from schemas import dataset_info as info_files
from schemas.lazy_tf import tensorflow as tf

log = logging.getLogger(__name__)


@dataclasses.dataclass
class SampleClip:
    frames: np.ndarray  # (T, S, S, 3) uint8
    gloss: str
    label: int
    video_id: str
    instance_id: int
    frame_indices: tuple[int, ...]


@dataclasses.dataclass
class Report:
    folder: str
    info: info_files.DatasetInfo
    labels: list[str]
    counts: dict[str, collections.Counter]  # split -> Counter(gloss)
    problems: list[str]
    samples: list[SampleClip]
    coverage: dict | None = None  # coverage.json (version-2 folders), shown with the counts


def _record_problems(parsed: dict, where: str, split: str, labels: list[str]) -> list[str]:
    """What the contract says about one parsed record beyond dtypes and shapes."""
    problems = []
    label = int(parsed[features.LABEL])
    gloss = parsed[features.GLOSS].decode("utf-8", "replace")
    if not 0 <= label < len(labels):
        problems.append(f"{where}: label {label} outside [0, {len(labels)}) of labels.txt")
    elif labels[label] != gloss:
        problems.append(
            f"{where}: gloss {gloss!r} but labels.txt line {label} is {labels[label]!r}"
        )
    record_split = parsed[features.SPLIT].decode("utf-8", "replace")
    if record_split != split:
        problems.append(f"{where}: split {record_split!r} in a {split!r} shard")
    indices = [int(i) for i in parsed[features.FRAME_INDICES]]
    total = int(parsed[features.NUM_SOURCE_FRAMES])
    if any(b < a for a, b in zip(indices, indices[1:])):
        problems.append(f"{where}: frame_indices {indices} are not in order")
    if indices and (indices[0] < 0 or indices[-1] >= total):
        problems.append(f"{where}: frame_indices {indices} outside [0, {total}) decoded frames")
    return problems


def _read_shard(path, info, split, labels, report, want_samples, sample_split):
    """Parses every record of one shard; records problems; returns the count of records read."""
    clip = info.clip
    ds = tf.data.TFRecordDataset(path, compression_type=info.compression)
    n = 0
    try:
        for n, serialized in enumerate(ds, start=1):
            where = f"{path}: record {n - 1}"
            try:
                tensors = clip.parse(serialized, float_frames=False)
                parsed = {k: v.numpy() for k, v in tensors.items()}
            except (tf.errors.InvalidArgumentError, ValueError) as e:
                message = (getattr(e, "message", None) or str(e)).strip().splitlines()[0]
                report.problems.append(
                    f"{where}: does not match dataset.json's clip format: {message}"
                )
                continue
            report.problems.extend(_record_problems(parsed, where, split, labels))
            label = int(parsed[features.LABEL])
            gloss = parsed[features.GLOSS].decode("utf-8", "replace")
            report.counts[split][gloss] += 1
            if split == sample_split and len(report.samples) < want_samples:
                report.samples.append(
                    SampleClip(
                        frames=parsed[features.FRAMES],
                        gloss=gloss,
                        label=label,
                        video_id=parsed[features.VIDEO_ID].decode("utf-8", "replace"),
                        instance_id=int(parsed[features.INSTANCE_ID]),
                        frame_indices=tuple(int(i) for i in parsed[features.FRAME_INDICES]),
                    )
                )
    except tf.errors.DataLossError as e:
        message = (getattr(e, "message", None) or str(e)).strip().splitlines()[0]
        report.problems.append(f"{path}: damaged after {n} readable records ({message})")
    return n


def inspect_dataset(folder: str, max_samples: int = 0, sample_split: str | None = None) -> Report:
    """Reads every record of a preprocess output folder; problems are collected, not raised."""
    info = info_files.read_dataset_info(folder)
    labels = info_files.read_labels(folder)
    if sample_split is None:
        sample_split = "train" if "train" in info.splits else (sorted(info.splits) or [""])[0]
    report = Report(folder, info, labels, collections.defaultdict(collections.Counter), [], [])
    coverage_path = layout.join(folder, layout.COVERAGE_JSON)
    if tf.io.gfile.exists(coverage_path):
        with tf.io.gfile.GFile(coverage_path) as f:
            report.coverage = json.load(f)
    if len(labels) != info.num_labels:
        report.problems.append(
            f"{folder}: labels.txt has {len(labels)} glosses, dataset.json "
            f"num_labels={info.num_labels}"
        )
    for split, entry in sorted(info.splits.items()):
        pattern = layout.join(folder, layout.shard_pattern(split, info.compression))
        shards = sorted(tf.io.gfile.glob(pattern))
        expected = [
            layout.shard_name(split, i, entry["shards"], info.compression)
            for i in range(entry["shards"])
        ]
        if [posixpath.basename(s) for s in shards] != expected:
            report.problems.append(
                f"{folder}: {split} has shards {[posixpath.basename(s) for s in shards]}, "
                f"dataset.json says {entry['shards']}"
            )
        per_shard = [
            _read_shard(s, info, split, labels, report, max_samples, sample_split) for s in shards
        ]
        total = sum(per_shard)
        report.counts.setdefault(split, collections.Counter())
        recorded = info.shard_lengths.get(split)  # absent in folders written before it was kept
        if recorded is not None and recorded != per_shard:
            report.problems.append(
                f"{folder}: {split} shards hold {per_shard} records, dataset.json's "
                f"shard_lengths says {recorded}"
            )
        if total != entry["examples"]:
            report.problems.append(
                f"{folder}: {split} has {total} records, dataset.json says {entry['examples']}"
            )
    return report


def format_report(report: Report) -> str:
    info = report.info
    lines = [
        f"{report.folder}: schema version {info.schema_version}, clips {info.clip.frame_shape} "
        f"{info.clip.frame_encoding}, {info.num_labels} labels, {info.num_failures} failed clips"
    ]
    width = max([len(g) for g in report.labels] + [5])
    for split, counts in sorted(report.counts.items()):
        lines.append(f"  {split}: {sum(counts.values())} records")
        for gloss in report.labels:
            if counts.get(gloss):
                lines.append(f"    {gloss:<{width}} {counts[gloss]}")
        for gloss in sorted(set(counts) - set(report.labels)):
            lines.append(f"    {gloss:<{width}} {counts[gloss]}  (not in labels.txt)")
    if report.coverage is not None:
        lines.append(f"  coverage ({layout.COVERAGE_JSON}):")
        lines.append(coverage.format_table(report.coverage, info.num_labels))
    if report.problems:
        lines.append(f"  {len(report.problems)} problem(s):")
        lines.extend(f"    {p}" for p in report.problems)
    else:
        lines.append("  every record matches the contract")
    return "\n".join(lines)


def contact_sheet(samples: list[SampleClip], thumb: int = 64):
    """A PIL image: a row per clip, its frames left to right, each captioned with its index."""
    from PIL import Image, ImageDraw, ImageFont

    if not samples:
        raise ValueError("no clips to draw")
    font = ImageFont.load_default(size=11)
    title_font = ImageFont.load_default(size=14)
    text_w, caption_h, pad = 190, 14, 4
    num_frames = max(len(s.frames) for s in samples)
    row_h = thumb + caption_h + 2 * pad
    sheet = Image.new(
        "RGB", (text_w + num_frames * (thumb + pad) + pad, len(samples) * row_h), "white"
    )
    draw = ImageDraw.Draw(sheet)
    for row, clip in enumerate(samples):
        y = row * row_h + pad
        draw.text((pad, y), clip.gloss, fill="black", font=title_font)
        draw.text((pad, y + 20), f"label {clip.label}", fill="dimgray", font=font)
        draw.text((pad, y + 34), f"video {clip.video_id}", fill="dimgray", font=font)
        draw.text((pad, y + 48), f"instance {clip.instance_id}", fill="dimgray", font=font)
        for t, frame in enumerate(clip.frames):
            x = text_w + t * (thumb + pad)
            image = Image.fromarray(frame).resize((thumb, thumb), Image.Resampling.NEAREST)
            sheet.paste(image, (x, y))
            draw.text((x, y + thumb + 1), str(clip.frame_indices[t]), fill="black", font=font)
        if row:
            draw.line([(0, row * row_h), (sheet.width, row * row_h)], fill="lightgray")
    return sheet


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not 1 <= args.max_clips <= 1000:
        parser.error(f"--max_clips must be in [1, 1000], got {args.max_clips}")
    if not 8 <= args.thumb <= 512:
        parser.error(f"--thumb must be in [8, 512], got {args.thumb}")
    if args.colors and not 2 <= args.colors <= 256:
        parser.error(f"--colors must be 0 or in [2, 256], got {args.colors}")
    try:
        report = inspect_dataset(
            args.folder, args.max_clips if args.contact_sheet else 0, args.split
        )
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_report(report))
    if args.contact_sheet:
        if not report.samples:
            print(f"error: no records in split {args.split!r} to draw", file=sys.stderr)
            return 2
        _save_contact_sheet(report.samples, args)
        print(f"contact sheet: {args.contact_sheet} ({len(report.samples)} clips)")
    return 1 if report.problems else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training.inspect",
        description=__doc__.splitlines()[0],
        allow_abbrev=False,
    )
    parser.add_argument("folder", help="a preprocess --output_dir (local or gs://)")
    parser.add_argument(
        "--contact_sheet", help="write a PNG with a row per clip here (default: no sheet)"
    )
    parser.add_argument("--split", help="split drawn on the contact sheet (default: train)")
    parser.add_argument(
        "--max_clips", type=int, default=12, help="rows of the contact sheet (default: 12)"
    )
    parser.add_argument(
        "--thumb", type=int, default=64, help="frame side on the sheet, pixels (default: 64)"
    )
    parser.add_argument(
        "--colors",
        type=int,
        default=0,
        help="save the sheet with a palette of this many colours (a smaller file for docs; "
        "0: exact RGB, the default)",
    )
    parser.add_argument(
        "--verbosity",
        type=console.parse_verbosity,
        default=console.DEFAULT_VERBOSITY,
        help="warning: the report only (default); info or debug: TensorFlow's own log lines too "
        "(absl's -1, 0, 1 work too)",
    )
    return parser


def _save_contact_sheet(samples, args) -> None:
    """The sheet as --contact_sheet, --thumb and --colors ask; a new folder is made for it."""
    sheet = contact_sheet(samples, args.thumb)
    if args.colors:
        sheet = sheet.quantize(colors=args.colors)
    folder = posixpath.dirname(args.contact_sheet)
    if folder:
        tf.io.gfile.makedirs(folder)  # as for any output of ours: a new folder is made
    sheet.save(args.contact_sheet, optimize=True)


def console_main() -> int:
    """`python -m training.inspect` and the aslvid2gloss-inspect console script: main() with the
    console set up first, so TensorFlow's start-up lines stay hidden (schemas/console.py)."""
    argv = sys.argv[1:]
    verbosity = console.verbosity_from_argv(argv)
    console.set_up(verbosity)
    noise = console.NOISE if verbosity == console.DEFAULT_VERBOSITY else ()
    with console.StderrFilter(noise=noise):
        return main(argv)


if __name__ == "__main__":
    sys.exit(console_main())
