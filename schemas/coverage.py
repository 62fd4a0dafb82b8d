"""The coverage report: what each split of the manifest became, by gloss and by signer.

A dataset is only as good as what reached the shards: a gloss with no training clip is a class
the model cannot learn, a gloss missing from val or test is never measured, and a signer in two
splits makes the held-out numbers optimistic (WLASL's splits are not signer-independent). The
report is built in the launcher from the manifest, the clip ids the shard writers wrote and
errors.jsonl. Written is counted from what was written, never as "the manifest less the errors":
a clip in neither place was lost by the runner, and the report says so instead of hiding it.

A video that clips of several splits are cut from is listed too. The readers refuse that for a
manifest one writes (CSV, ASL Citizen) when it is the same window, but WLASL and MS-ASL releases
do it by design (windows of one YouTube video), and WLASL v0.3 even has the same whole video in
train and test (35 times, e.g. `Eya_OdUAevw`, gloss "hot"): reported, not refused, as releases
cannot be edited.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Iterable, Sequence

SPLIT_ORDER = ("train", "val", "test")


def build(
    glosses: Sequence[str],
    clips: Iterable,
    error_rows: Iterable[dict],
    written_ids: Iterable[str] | None = None,
) -> dict:
    """coverage.json's content. clips: manifests.Clip (split, gloss, clip_id, signer_id, path
    and window); written_ids: the clip id of every record in the shards (None: every clip
    without an error row counts as written, for callers that hold no shards)."""
    clips = tuple(clips)
    error_rows = list(error_rows)
    failed = {row["clip_id"]: row["reason"] for row in error_rows}
    written = Counter(written_ids) if written_ids is not None else None
    splits: dict[str, dict] = {}
    per_gloss: dict[str, dict[str, dict]] = defaultdict(dict)
    signer_splits: dict[int, Counter] = defaultdict(Counter)
    lost: list[str] = []
    for clip in clips:
        split = splits.setdefault(clip.split, _entry(written is not None))
        gloss = per_gloss[clip.gloss].setdefault(clip.split, _entry(written is not None))
        reason = failed.get(clip.clip_id)
        was_written = reason is None if written is None else written[clip.clip_id] > 0
        was_lost = not was_written and reason is None
        for entry in (split, gloss):
            entry["in_manifest"] += 1
            if was_written:
                entry["written"] += 1
            if reason is not None:
                entry["failed"][reason] = entry["failed"].get(reason, 0) + 1
            if was_lost:
                entry["lost"] += 1
        if was_lost:
            lost.append(clip.clip_id)
        if clip.signer_id != -1:
            signer_splits[clip.signer_id][clip.split] += 1
    present = [s for s in SPLIT_ORDER if s in splits]
    report = {
        "splits": {s: splits[s] for s in present},
        "glosses": {g: per_gloss[g] for g in glosses if g in per_gloss},
        "glosses_without_training_clips": [],
        "glosses_missing_from": {},
        "signers_in_several_splits": {
            str(signer): _in_split_order(counts)
            for signer, counts in sorted(signer_splits.items())
            if len(counts) > 1
        },
        **overlap(clips),
    }
    if written is not None:
        report["accounting"] = _accounting(lost, written, failed, error_rows)
    if "train" in splits:
        report["glosses_without_training_clips"] = [
            g for g in glosses if _written(per_gloss, g, "train") == 0
        ]
    for split in present:
        if split != "train":
            report["glosses_missing_from"][split] = [
                g for g in glosses if _written(per_gloss, g, split) == 0
            ]
    return report


def overlap(clips: Iterable) -> dict:
    """Videos that clips of several splits are cut from: video path → clips per split; and the
    clip ids of each window of a video that is a clip in several splits (evaluated on what was
    trained on)."""
    video_splits: dict[str, Counter] = defaultdict(Counter)
    windows: dict[tuple, list] = defaultdict(list)
    for clip in clips:
        video_splits[clip.path][clip.split] += 1
        windows[(clip.path, clip_window(clip))].append(clip)
    return {
        "videos_in_several_splits": {
            path: _in_split_order(counts)
            for path, counts in sorted(video_splits.items())
            if len(counts) > 1
        },
        "identical_clips_in_several_splits": [
            [c.clip_id for c in same]
            for same in windows.values()
            if len({c.split for c in same}) > 1
        ],
    }


def clip_window(clip) -> tuple:
    """The part of its video a clip is, equal for two clips that give the same frames: frames
    1 to -1 (to the end) are the whole video whatever the rate."""
    from schemas.features import CUT_TIME_WINDOW, CUT_WHOLE_FILE

    if clip.cut == CUT_TIME_WINDOW:
        return ("time", clip.start_time, clip.end_time)
    if clip.cut == CUT_WHOLE_FILE or (clip.frame_start, clip.frame_end) == (1, -1):
        return ("whole",)
    return ("frames", clip.frame_start, clip.frame_end, clip.fps)


def _in_split_order(counts: Counter) -> dict:
    return dict(sorted(counts.items(), key=lambda kv: SPLIT_ORDER.index(kv[0])))


def _entry(accounted: bool) -> dict:
    entry = {"in_manifest": 0, "written": 0, "failed": {}}
    if accounted:
        entry["lost"] = 0
    return entry


def _accounting(lost: list[str], written: Counter, failed: dict, error_rows: list) -> dict:
    """The clips the run did not account for exactly once: lost (no record, no error row),
    written more than once, written and failed, failed twice. Any of them fails the run."""
    errors = Counter(row["clip_id"] for row in error_rows)
    return {
        "lost": lost,
        "written_twice": sorted(i for i, n in written.items() if n > 1),
        "written_and_failed": sorted(i for i in written if i in failed),
        "failed_twice": sorted(i for i, n in errors.items() if n > 1),
    }


def _written(per_gloss, gloss: str, split: str) -> int:
    return per_gloss.get(gloss, {}).get(split, {}).get("written", 0)


def format_table(report: dict, num_glosses: int) -> str:
    """The printed table: per split, clips in the manifest, written and failed by reason; then
    the gloss and signer findings as counts (the ids are in coverage.json)."""
    lines = [f"  {'split':<6} {'manifest':>9} {'written':>8} {'failed':>7}  failed by reason"]
    for split, entry in report["splits"].items():
        failed = sum(entry["failed"].values())
        reasons = ", ".join(f"{r}={n}" for r, n in sorted(entry["failed"].items())) or "-"
        lines.append(
            f"  {split:<6} {entry['in_manifest']:>9} {entry['written']:>8} {failed:>7}  {reasons}"
        )
    lost = sum(entry.get("lost", 0) for entry in report["splits"].values())
    if lost:
        lines.append(f"  LOST: {lost} clips neither written nor failed (run failed; ids in "
                     "coverage.json's accounting)")  # fmt: skip
    if "train" in report["splits"]:
        n = len(report["glosses_without_training_clips"])
        lines.append(f"  glosses with no training clip: {n} of {num_glosses}")
    for split, missing in report["glosses_missing_from"].items():
        lines.append(f"  glosses with no {split} clip: {len(missing)} of {num_glosses}")
    shared = report["signers_in_several_splits"]
    if shared:
        lines.append(f"  signers in more than one split: {len(shared)}")
    # .get: coverage.json files written before these were counted.
    videos = report.get("videos_in_several_splits", {})
    if videos:
        same = len(report.get("identical_clips_in_several_splits", []))
        lines.append(
            f"  videos in more than one split: {len(videos)} (the same clip in several: {same})"
        )
    return "\n".join(lines)
