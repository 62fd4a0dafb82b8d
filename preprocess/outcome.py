"""After the Beam job, in the launcher: the coverage report, the failed-run gate, dataset.json.

Every staged clip must come out exactly once: as a record in a shard (the shard writers list
the ids they wrote) or as an error row. A runner that drops or repeats elements (Beam's threaded
local mode did, under load: docs/design.md, "Local runs") would otherwise finish with exit 0
and a coverage report that counts the lost clips as written; here such a run fails, naming the
clips, whatever the cause.

dataset.json is written last and only for a usable run, so its presence means "finished": the
trainer and a rerun of the same command both rely on that. A run that wrote no clip of a split
the manifest has (a wrong --video_dir gives 100% missing_file), or failed more than
--max_failed_fraction of its clips, leaves a failure marker instead: the command exits non-zero
after its summary, and a corrected command may reuse the folder without --overwrite.
"""

from __future__ import annotations

import json

from schemas import coverage, fileio, layout
from schemas import dataset_info as info_files
from schemas.layout import FAILED_JSON, RUN_STATS_JSON


class RunFailed(Exception):
    """The job ran but its output is not usable; `info` is what dataset.json would have said."""

    def __init__(self, message: str, info: dict, report: dict):
        super().__init__(message)
        self.info = info
        self.report = report


def finish(output_dir: str, manifest, *, max_failed_fraction: float | None = None) -> tuple:
    """(dataset.json content, coverage report); RunFailed when the run is not usable."""
    join = layout.join
    with fileio.open_file(join(output_dir, RUN_STATS_JSON)) as f:
        stats = json.load(f)
    with fileio.open_file(join(output_dir, layout.ERRORS_JSONL)) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    written = written_ids(output_dir)
    report = coverage.build(manifest.glosses, manifest.clips, rows, written)
    _write_json(join(output_dir, layout.COVERAGE_JSON), report)
    info = info_files.DatasetInfo.from_json(stats, source=RUN_STATS_JSON)
    info.manifest_format = manifest.format
    problems = unaccounted(report) + gate(report, max_failed_fraction)
    if problems:
        marker = {"problems": problems, "run": info.to_json(), **report.get("accounting", {})}
        _write_json(join(output_dir, FAILED_JSON), marker)
        raise RunFailed("; ".join(problems), info.to_json(), report)
    info_files.write_dataset_info(output_dir, info)
    fileio.remove(join(output_dir, RUN_STATS_JSON))
    fileio.remove(join(output_dir, layout.WRITTEN_JSONL))
    return info.to_json(), report


def written_ids(output_dir: str) -> list[str]:
    """The clip id of every record in the shards, as the shard writers listed them."""
    with fileio.open_file(layout.join(output_dir, layout.WRITTEN_JSONL)) as f:
        return [json.loads(line)["clip_id"] for line in f if line.strip()]


def unaccounted(report: dict) -> list[str]:
    """Clips the run did not account for exactly once (coverage's "accounting")."""
    problems = []
    what = {
        "lost": "neither in a shard nor in errors.jsonl (lost by the runner)",
        "written_twice": "in the shards more than once",
        "written_and_failed": "both in a shard and in errors.jsonl",
        "failed_twice": "in errors.jsonl more than once",
    }
    for key, ids in report.get("accounting", {}).items():
        if ids:
            shown = ", ".join(ids[:5]) + (" ..." if len(ids) > 5 else "")
            problems.append(f"{len(ids)} clips {what[key]}: {shown}")
    return problems


def gate(report: dict, max_failed_fraction: float | None) -> list[str]:
    """Why the run is not usable, or [] if it is."""
    problems = []
    total = failed = 0
    for split, entry in report["splits"].items():
        total += entry["in_manifest"]
        failed += sum(entry["failed"].values())
        if entry["in_manifest"] and not entry["written"]:
            reasons = ", ".join(f"{r}={n}" for r, n in sorted(entry["failed"].items()))
            problems.append(
                f"no clip of split {split!r} was written ({entry['in_manifest']} in the "
                f"manifest, all failed: {reasons})"
            )
    if max_failed_fraction is not None and total and failed / total > max_failed_fraction:
        problems.append(
            f"{failed} of {total} clips failed ({failed / total:.1%}), over "
            f"--max_failed_fraction={max_failed_fraction:g}"
        )
    return problems


def _write_json(path: str, data) -> None:
    fileio.write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
