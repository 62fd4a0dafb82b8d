"""What the job leaves for the launcher: errors.jsonl, the written clip ids and RUN_STATS_JSON.

Per-split shard counts and what the written clips were cut by go to RUN_STATS_JSON; the launcher
turns it into dataset.json once the run passes its checks (preprocess.outcome), so a folder with
dataset.json is always a finished, usable run.
"""

from __future__ import annotations

import json

from preprocess.config import PreprocessConfig
from schemas import dataset_info as info_files
from schemas import fileio, layout
from schemas.layout import RECORDS_DIR, RUN_STATS_JSON


def finish_run(_, shard_stats, failures, cut_counts, config: PreprocessConfig, splits,
               num_labels, command_line):  # fmt: skip
    """Writes errors.jsonl and the run's stats for the launcher, which writes dataset.json last.

    The launcher (preprocess.outcome) holds the manifest, so it adds the coverage report and
    decides whether the run is usable before marking the folder finished.
    """
    output_dir = config.output_dir
    records_dir = layout.join(output_dir, RECORDS_DIR)
    if fileio.exists(records_dir):  # empty now: every record went into its shard
        fileio.rmtree(records_dir)
    rows = [row for _, row in sorted(failures, key=lambda item: item[0])]
    with fileio.open_file(layout.join(output_dir, layout.ERRORS_JSONL), "w") as f:
        f.write("".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows))
    write_written_ids(output_dir, shard_stats)
    per_split, lengths = split_counts(shard_stats, rows, splits)
    cuts, layouts, clamped = cut_totals(cut_counts)
    info = info_files.DatasetInfo(
        clip=config.schema,
        compression=config.compression,
        splits=per_split,
        num_labels=num_labels,
        num_failures=len(rows),
        command_line=list(command_line),
        package_version=_package_version(),
        cuts=cuts,
        layouts=layouts,
        num_clamped=clamped,
        decoder=config.decoder,
        crop="bbox" if config.crop_bbox else "none",
        shard_lengths=lengths,
    )
    path = layout.join(output_dir, RUN_STATS_JSON)
    with fileio.open_file(path, "w") as f:
        f.write(json.dumps(info.to_json(), indent=2, sort_keys=True) + "\n")
    return info.to_json()


def write_written_ids(output_dir: str, shard_stats) -> None:
    """WRITTEN_JSONL: a line per record, {"clip_id", "shard"}, from the shard writers' own lists,
    for the launcher's accounting (preprocess.outcome)."""
    path = layout.join(output_dir, layout.WRITTEN_JSONL)
    with fileio.open_file(path, "w") as f:
        for stats in sorted(shard_stats, key=lambda s: s["name"]):
            f.write("".join(json.dumps({"clip_id": clip_id, "shard": stats["name"]},
                                       ensure_ascii=False) + "\n"
                            for clip_id in stats["clip_ids"]))  # fmt: skip


def split_counts(shard_stats, rows, splits) -> tuple[dict, dict[str, list[int]]]:
    """(per split {examples, shards, failures}, per split the records of each shard) from
    WriteShardFn's stats and the failure rows. Every split of the manifest has an entry."""
    per_split = {split: {"examples": 0, "shards": 0, "failures": 0} for split in splits}
    lengths = {}
    for stats in shard_stats:
        split = stats["split"]
        entry = per_split.setdefault(split, {"examples": 0, "shards": 0, "failures": 0})
        entry["examples"] += stats["examples"]
        entry["shards"] = stats["num_shards"]
        lengths.setdefault(split, [0] * stats["num_shards"])[stats["shard"]] = stats["examples"]
    for row in rows:
        per_split.setdefault(row["split"], {"examples": 0, "shards": 0, "failures": 0})
        per_split[row["split"]]["failures"] += 1
    return per_split, dict(sorted(lengths.items()))


def cut_totals(cut_counts) -> tuple[dict[str, int], dict[str, int], int]:
    """(clips by cut rule, by WLASL layout, clamped) from ((split, cut, layout, clamped), n)."""
    cuts, layouts, clamped = {}, {}, 0
    for (_, cut, folder_layout, was_clamped), n in sorted(cut_counts):
        cuts[cut] = cuts.get(cut, 0) + n
        if folder_layout:
            layouts[folder_layout] = layouts.get(folder_layout, 0) + n
        clamped += n if was_clamped else 0
    return cuts, layouts, clamped


def _package_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("aslvid2gloss")
    except metadata.PackageNotFoundError:
        return "unknown"
