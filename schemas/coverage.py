"""The coverage report: what each split of the manifest became, by gloss and by signer.

A dataset is only as good as what reached the shards: a gloss with no training clip is a class
the model cannot learn, a gloss missing from val or test is never measured, and a signer in two
splits makes the held-out numbers optimistic (WLASL's splits are not signer-independent). The
report is built in the launcher from the manifest and errors.jsonl: every clip of the manifest
either has a record or an error row, so nothing is read back from the shards.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Iterable, Sequence

SPLIT_ORDER = ("train", "val", "test")


def build(glosses: Sequence[str], clips: Iterable, error_rows: Iterable[dict]) -> dict:
    """coverage.json's content. clips: manifests.Clip (split, gloss, clip_id, signer_id)."""
    failed = {row["clip_id"]: row["reason"] for row in error_rows}
    splits: dict[str, dict] = {}
    per_gloss: dict[str, dict[str, dict]] = defaultdict(dict)
    signer_splits: dict[int, Counter] = defaultdict(Counter)
    for clip in clips:
        split = splits.setdefault(clip.split, {"in_manifest": 0, "written": 0, "failed": {}})
        gloss = per_gloss[clip.gloss].setdefault(
            clip.split, {"in_manifest": 0, "written": 0, "failed": {}}
        )
        reason = failed.get(clip.clip_id)
        for entry in (split, gloss):
            entry["in_manifest"] += 1
            if reason is None:
                entry["written"] += 1
            else:
                entry["failed"][reason] = entry["failed"].get(reason, 0) + 1
        if clip.signer_id != -1:
            signer_splits[clip.signer_id][clip.split] += 1
    present = [s for s in SPLIT_ORDER if s in splits]
    report = {
        "splits": {s: splits[s] for s in present},
        "glosses": {g: per_gloss[g] for g in glosses if g in per_gloss},
        "glosses_without_training_clips": [],
        "glosses_missing_from": {},
        "signers_in_several_splits": {
            str(signer): dict(sorted(counts.items(), key=lambda kv: SPLIT_ORDER.index(kv[0])))
            for signer, counts in sorted(signer_splits.items())
            if len(counts) > 1
        },
    }
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
    if "train" in report["splits"]:
        n = len(report["glosses_without_training_clips"])
        lines.append(f"  glosses with no training clip: {n} of {num_glosses}")
    for split, missing in report["glosses_missing_from"].items():
        lines.append(f"  glosses with no {split} clip: {len(missing)} of {num_glosses}")
    shared = report["signers_in_several_splits"]
    if shared:
        lines.append(f"  signers in more than one split: {len(shared)}")
    return "\n".join(lines)
