"""Encoded records → deterministic shards: the plan (which record goes where) and the writers.

Clips are ordered by a hash of their id, so each shard mixes glosses while every run writes the
same bytes; a shard is written under a temporary name and renamed, so a shard that exists is
whole.
"""

from __future__ import annotations

import hashlib
import math
from typing import Iterable

import apache_beam as beam

from preprocess.config import PreprocessConfig
from schemas import fileio, layout
from schemas.tfrecord_writer import TFRecordWriter


def _order_key(clip_id: str) -> str:
    # A stable pseudo-random order: shards mix glosses (WLASL lists clips gloss by gloss) while
    # every run still writes the same bytes.
    return hashlib.sha1(clip_id.encode("utf-8")).hexdigest()


def plan_split_shards(
    split: str, items: Iterable[tuple[int, str, int]], target_bytes: int, num_shards: int
):
    """(index, order key, record size) of one split →
    (index, (split, shard, num_shards, position))."""
    items = sorted(items, key=lambda item: (item[1], item[0]))
    total = sum(size for _, _, size in items)
    n = num_shards or max(1, math.ceil(total / target_bytes))
    n = max(1, min(n, len(items)))
    for position, (index, _, _) in enumerate(items):
        yield index, (split, position % n, n, position)


def shard_lengths(examples: int, num_shards: int) -> list[int]:
    """Records in each shard of a split, as `plan_split_shards` deals them (position % shards)."""
    return [len(range(shard, examples, num_shards)) for shard in range(num_shards)]


class WriteShardFn(beam.DoFn):
    """Writes one shard under a temporary name and renames it, so a shard that exists is whole.

    Its records are read back one at a time from RECORDS_DIR and removed once the shard is whole.
    """

    def __init__(self, output_dir: str, compression: str):
        self._output_dir = output_dir
        self._compression = compression

    def process(self, element):
        (split, shard, num_shards), records = element
        records = sorted(records)  # by position in the split's plan
        paths = [path for _, path, _ in records]
        name = layout.shard_name(split, shard, num_shards, self._compression)
        final = layout.join(self._output_dir, name)
        tmp = layout.join(self._output_dir, f".{name}.tmp")
        with TFRecordWriter(fileio.open_file(tmp, "wb"), self._compression) as writer:
            for path in paths:
                with fileio.open_file(path, "rb") as f:
                    writer.write(f.read())
        fileio.rename(tmp, final, overwrite=True)
        for path in paths:
            fileio.remove(path)
        # The ids of what this shard holds: the launcher accounts for every clip from them.
        clip_ids = [clip_id for _, _, clip_id in records]
        yield {"split": split, "shard": shard, "num_shards": num_shards, "examples": len(paths),
               "name": name, "clip_ids": clip_ids}  # fmt: skip


class WriteShards(beam.PTransform):
    """EncodedClip → shard files; outputs one stats dict per shard written."""

    def __init__(self, config: PreprocessConfig):
        super().__init__()
        self._config = config

    def expand(self, encoded):
        config = self._config
        plan = (
            encoded
            | "Sizes" >> beam.Map(lambda c: (c.split, (c.index, _order_key(c.clip_id), c.size)))
            | "BySplit" >> beam.GroupByKey()
            | "Plan"
            >> beam.FlatMap(
                lambda kv: plan_split_shards(
                    kv[0], kv[1], config.target_shard_bytes, config.num_shards
                )
            )
        )
        return (
            encoded
            | "Assign"
            >> beam.Map(
                lambda c, plan: (plan[c.index][:3], (plan[c.index][3], c.path, c.clip_id)),
                plan=beam.pvalue.AsDict(plan),
            )
            | "ByShard" >> beam.GroupByKey()
            | "Write" >> beam.ParDo(WriteShardFn(config.output_dir, config.compression))
        )
