"""The lines printed at the end of a run, finished or failed: what the folder holds, and why."""

from __future__ import annotations

from collections import Counter

from schemas import coverage, fileio, layout
from schemas import dataset_info as info_files


def summarize(output_dir: str, info: dict, report: dict) -> str:
    """The lines printed at the end: where the output is, what failed by reason, how to load it.

    From the run's own outcome (dataset.json's content and the coverage report the launcher
    built), not by reading its files back.
    """
    from preprocess import tfds_metadata

    reasons = Counter()
    for entry in report["splits"].values():
        reasons.update(entry["failed"])
    errors_path = layout.join(output_dir, layout.ERRORS_JSONL)
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
    lines.append(f"  coverage ({layout.join(output_dir, layout.COVERAGE_JSON)}):")
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
