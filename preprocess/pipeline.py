"""The preprocess job: manifest rows → decoded clips → tf.train.Example → deterministic shards.

Runs on a laptop (the default: Beam's local runner in this process, a video per core, offline):

    python -m preprocess --manifest=build/demo/data/WLASL_v0.3.json \
        --video_dir=build/demo/data/videos --output_dir=/tmp/records

or on Google Cloud Dataflow, shipping this package to the workers with --setup_file:

    python -m preprocess --manifest=gs://BUCKET/WLASL_v0.3.json --video_dir=gs://BUCKET/videos \
        --output_dir=gs://BUCKET/records --runner=DataflowRunner --project=PROJECT \
        --region=us-central1 --temp_location=gs://BUCKET/tmp --setup_file=./setup.py
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import hashlib
import json
import logging
import math
import queue
from typing import Iterable

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from preprocess import manifests
from preprocess.video.limits import ClipLimits
from preprocess.video.messages import ClipReply, ClipRequest, DecodeError, VideoRequest, clip_window
from preprocess.video.sampling import Window
from schemas import dataset_info as info_files
from schemas import features, fileio, layout, reasons
from schemas.features import ClipMeta, ClipSchema
from schemas.layout import RECORDS_DIR, RUN_STATS_JSON
from schemas.tfrecord_writer import TFRecordWriter

COUNTER_NAMESPACE = "preprocess"
# Encoded records wait in RECORDS_DIR, one file each, until their shard is written; only their
# paths and sizes go through Beam's shuffle, so no process ever holds more than a record (local
# runners keep a GroupByKey's whole input in memory: the records themselves would make memory grow
# with the dataset).
# Clips of one video decoded in one pass; more are split into passes of this many, so a pass
# holds at most this many clips' frames (about 1.35 MB each at 20 x 150 x 150) in memory.
MAX_CLIPS_PER_PASS = 64
DEFAULT_TARGET_SHARD_MB = 150  # 100–200 MB a shard streams well from local disks and GCS.
# What the job itself leaves for the launcher (RUN_STATS_JSON): per-split shard counts and what
# the written clips were cut by. The launcher turns it into dataset.json once the run passes its
# checks (preprocess.outcome), so a folder with dataset.json is always a finished, usable run.


@dataclasses.dataclass(frozen=True)
class PreprocessConfig:
    """Everything the pipeline needs besides the clips; built from flags at the edge."""

    output_dir: str
    schema: ClipSchema = ClipSchema()
    compression: str = ""  # '' or 'GZIP'
    decoder: str = "pyav"
    crop_bbox: bool = False
    target_shard_bytes: int = DEFAULT_TARGET_SHARD_MB * 1_000_000
    num_shards: int = 0  # per split; 0 chooses from the data size
    limits: ClipLimits = ClipLimits()  # per clip: time, memory, declared length
    decoder_threads: int = 0  # FFmpeg threads per clip; 0 = one per core
    # Encode the frames in the decoding process (a tenth of the bytes cross its pipe); PNG,
    # which needs TensorFlow, is always encoded by the worker (schemas/jpeg.py says why).
    encode_in_decoder: bool = True
    # Videos each worker decodes at once, each in its own decoding process: a local run is one
    # Beam worker (docs/design.md, "Local runs") that keeps every core busy this way.
    decode_parallelism: int = 1

    def __post_init__(self):
        if self.compression not in info_files.COMPRESSIONS:
            raise ValueError(f"compression must be '' or 'GZIP', got {self.compression!r}")
        if self.target_shard_bytes <= 0:
            raise ValueError(f"target_shard_bytes must be positive, got {self.target_shard_bytes}")
        if self.num_shards < 0:
            raise ValueError(f"num_shards must be >= 0, got {self.num_shards}")
        if self.decode_parallelism < 1:
            raise ValueError(f"decode_parallelism must be >= 1, got {self.decode_parallelism}")


@dataclasses.dataclass(frozen=True)
class EncodedClip:
    index: int  # position in the manifest: the tie-breaker that makes output deterministic
    clip_id: str
    split: str
    size: int  # bytes of the serialized record
    path: str  # where the record waits (RECORDS_DIR) until its shard is written
    cut: str = ""  # the rule that cut it (schemas.features.CUT_RULES)
    layout: str = ""  # WLASL's folder layout that found its file, '' for other formats
    clamped: bool = False


def record_path(output_dir: str, index: int) -> str:
    """Where record `index` waits for its shard. The name starts with a hash of the index:
    object stores spread load by key range, and sequential names would put every worker's writes
    on one range (GCS starts a bucket at ~1,000 writes/s; BUILD.md, "Record spill files")."""
    prefix = hashlib.sha1(str(index).encode("ascii")).hexdigest()[:6]
    return layout.join(layout.join(output_dir, RECORDS_DIR), f"{prefix}-{index:09d}.rec")


def error_row(clip: manifests.Clip, reason: str, detail: str, info: dict | None = None) -> dict:
    """One errors.jsonl line: the ids a record would carry, and why the clip produced none.

    `path` is the file that was opened; `manifest_path` the video as the manifest names it (the
    record's `path` feature); `info` adds the numbers of a reason (range_past_end's window).
    """
    row = {
        "clip_id": clip.clip_id,
        "video_id": clip.video_id,
        "path": clip.path,
        "manifest_path": clip.rel_path or clip.path,
        "split": clip.split,
        "gloss": clip.gloss,
        "label": clip.label,
        "signer_id": clip.signer_id,
        "cut": clip.cut,
        "layout": clip.layout,
        "reason": reason,
        "detail": detail,
    }
    if clip.tried:
        row["tried"] = list(clip.tried)
    row.update(info or {})
    return row


def decode_args(clip: manifests.Clip) -> dict:
    """The decoder's range arguments for a clip's cut rule (docs/design.md, "Sampling rule")."""
    if clip.cut == features.CUT_WHOLE_FILE:
        return {}  # already cut by the dataset's own tools: the whole file is the clip
    if clip.cut == features.CUT_TIME_WINDOW:
        return {"start_time": clip.start_time, "end_time": clip.end_time}
    args = {"frame_start": clip.frame_start, "frame_end": clip.frame_end}
    if clip.cut == features.CUT_STATED_RATE:
        args["fps"] = clip.fps
    return args


def clip_request(clip: manifests.Clip, config: PreprocessConfig) -> ClipRequest:
    """What the decoding process is asked for the clip: built once, here, where the clip and the
    job's settings meet; its window goes into the record too (clip_meta)."""
    schema = config.schema
    crop = clip.bbox if config.crop_bbox else None
    return ClipRequest(clip_window(**decode_args(clip)), schema.num_frames, schema.size, crop)


def clip_meta(clip: manifests.Clip, decoded, window: Window) -> ClipMeta:
    """What the record says about its clip: the manifest's fields and the cut actually applied
    (`window`: its request's, the one it was decoded by)."""
    return ClipMeta(
        label=clip.label,
        gloss=clip.gloss,
        frame_indices=decoded.frame_indices,
        num_source_frames=decoded.num_source_frames,
        video_id=clip.video_id,
        split=clip.split,
        source=clip.source,
        instance_id=clip.instance_id,
        signer_id=clip.signer_id,
        frame_start=clip.frame_start,
        frame_end=clip.frame_end,
        clip_id=clip.clip_id,
        path=clip.rel_path or clip.path,
        cut=clip.cut,
        layout=clip.layout,
        cut_first=decoded.first,
        cut_last=decoded.last,
        clamped=decoded.clamped,
        window_start_s=float(window.start) if window.timed else -1.0,
        window_end_s=float(window.end) if window.timed and window.end is not None else -1.0,
    )


class DecodeClipFn(beam.DoFn):
    """(video, [(index, Clip)]) → EncodedClip per clip, or (index, error row) on FAILED.

    Decoding runs in a child process under the config's `limits` (preprocess.video.isolation): a
    video that crashes FFmpeg, hangs or exhausts memory costs its clips, not a dead worker. The
    clips of one video are decoded in one pass over it, each exactly as it would be alone; each
    clip's ClipRequest is built once (clip_request) and its window is the one the record states.

    With `decode_parallelism` > 1 the worker decodes that many videos at once, each in its own
    child, from a thread pool: the threads only wait on their children, so one Beam worker thread
    keeps every core busy. Outputs leave in the Beam thread (counters need its context); an
    element's outputs may leave while a later one is processed, or in finish_bundle, which is fine
    in the global window this job runs in.
    """

    FAILED = "failed"

    def __init__(self, config: PreprocessConfig):
        self._config = config
        self._parallelism = config.decode_parallelism
        self._encode_in_decoder = (
            config.encode_in_decoder and config.schema.encodes_without_tensorflow
        )
        self._schema = config.schema
        self._written = Metrics.counter(COUNTER_NAMESPACE, "clips_written")
        self._failed = Metrics.counter(COUNTER_NAMESPACE, "clips_failed")

    def setup(self):
        # Imported here so that a worker loads the decoder once; its child starts on first use.
        from preprocess.video import isolation

        config = self._config
        self._idle = queue.SimpleQueue()  # one decoding process per concurrent video
        self._all_decoders = [
            isolation.IsolatedDecoder(config.decoder, config.limits, self._encode_in_decoder)
            for _ in range(self._parallelism)
        ]
        for isolated in self._all_decoders:
            self._idle.put(isolated)
        self._pool = None
        if self._parallelism > 1:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                self._parallelism, thread_name_prefix="decode"
            )
        fileio.makedirs(layout.join(config.output_dir, RECORDS_DIR))

    def teardown(self):
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        for isolated in getattr(self, "_all_decoders", ()):
            isolated.close()

    def start_bundle(self):
        self._pending = collections.deque()

    def process(self, element):
        """element: (video path, [(index, Clip), ...]): the clips of one video, in one pass."""
        if self._pool is None:
            yield from self._counted(self._decode_element(element))
            return
        self._pending.append(self._pool.submit(lambda: list(self._decode_element(element))))
        # At most two videos queued per decoding process: memory stays bounded, the cores busy.
        while self._pending and (
            len(self._pending) > 2 * self._parallelism or self._pending[0].done()
        ):
            yield from self._counted(self._pending.popleft().result())

    def finish_bundle(self):
        window = GlobalWindow()
        while self._pending:
            for output in self._counted(self._pending.popleft().result()):
                if isinstance(output, beam.pvalue.TaggedOutput):
                    value = WindowedValue(output.value, MIN_TIMESTAMP, [window])
                    yield beam.pvalue.TaggedOutput(output.tag, value)
                else:
                    yield WindowedValue(output, MIN_TIMESTAMP, [window])

    def _counted(self, outputs):
        for output in outputs:
            if isinstance(output, beam.pvalue.TaggedOutput):
                self._failed.inc()
                Metrics.counter(COUNTER_NAMESPACE, f"failed_{output.value[1]['reason']}").inc()
            else:
                self._written.inc()
            yield output

    def _decode_element(self, element):
        _, items = element
        items = sorted(items, key=lambda item: item[0])
        isolated = self._idle.get()
        try:
            for start in range(0, len(items), MAX_CLIPS_PER_PASS):
                yield from self._decode_video(isolated, items[start : start + MAX_CLIPS_PER_PASS])
        finally:
            self._idle.put(isolated)

    def _decode_video(self, isolated, items):
        wanted = []
        for index, clip in items:
            if clip.tried:  # the manifest reader looked for the video and found no file
                detail = "no such file; looked for " + ", ".join(clip.tried)
                yield self._fail(index, clip, reasons.MISSING_FILE, detail)
                continue
            try:
                wanted.append((index, clip, clip_request(clip, self._config)))
            except ValueError as e:  # a window no video can have: this clip's failure alone
                yield self._fail(index, clip, reasons.DECODE_FAILED, f"{type(e).__name__}: {e}")
        if not wanted:
            return
        path = wanted[0][1].path
        request = VideoRequest(
            path,
            tuple(r for _, _, r in wanted),
            self._config.decoder_threads,
            self._schema if self._encode_in_decoder else None,
        )
        try:
            replies = isolated.decode_video(request)
        except Exception as e:  # noqa: BLE001 - a decoder bug must cost its clips, and say so
            # One line for the user; the traceback is for whoever debugs the decoder.
            logging.warning("unexpected error decoding %s: %s: %s", path, type(e).__name__, e)
            logging.debug("unexpected error decoding %s", path, exc_info=True)
            error = DecodeError(path, reasons.DECODE_FAILED, f"{type(e).__name__}: {e}")
            replies = [ClipReply(error=error)] * len(wanted)
        for (index, clip, clip_req), reply in zip(wanted, replies):
            if reply.error is not None:
                error = reply.error
                yield self._fail(index, clip, error.reason, error.detail, error.info)
            else:
                yield self._write(index, clip, reply.decoded, clip_req.window)

    def _write(self, index, clip, decoded, window):
        meta = clip_meta(clip, decoded, window)
        if decoded.encoded is not None:  # encoded in the decoding process (isolation)
            record = self._schema.encode_record(list(decoded.encoded), meta)
        else:
            record = self._schema.encode(decoded.frames, meta)
        path = record_path(self._config.output_dir, index)
        # A retried bundle rewrites the same bytes under the same name: idempotent.
        with fileio.open_file(path, "wb") as f:
            f.write(record)
        return EncodedClip(
            index=index,
            clip_id=clip.clip_id,
            split=clip.split,
            size=len(record),
            path=path,
            cut=clip.cut,
            layout=clip.layout,
            clamped=decoded.clamped,
        )

    def _fail(self, index, clip, reason, detail, info=None):
        row = error_row(clip, reason, detail, info)
        return beam.pvalue.TaggedOutput(self.FAILED, (index, row))


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


class DecodeClips(beam.PTransform):
    """(index, Clip) → EncodedClip; failures on the tagged output 'failed' as (index, error row)."""

    def __init__(self, config: PreprocessConfig):
        super().__init__()
        self._config = config

    def expand(self, clips):
        return (
            clips
            # Clips of one video go together, so it is decoded once for all of them (raw WLASL
            # and MS-ASL cut many clips from one YouTube video); the shuffle also spreads videos
            # over workers.
            | "KeyByVideo" >> beam.Map(lambda item: (item[1].path, item))
            | "ByVideo" >> beam.GroupByKey()
            | "Decode"
            >> beam.ParDo(DecodeClipFn(self._config)).with_outputs(
                DecodeClipFn.FAILED, main="clips"
            )
        )


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


def build_pipeline(
    pipeline,
    clips,
    config: PreprocessConfig,
    num_labels: int,
    command_line=(),
    progress_path: str | None = None,
):
    """Adds the whole job to `pipeline`; returns the PCollection holding the run's stats.

    `clips` is a staging.StagedClips (the launcher's validated clip list, staged as a file the job
    reads, so the job graph is the same size for 100 clips or 1,000,000) or a sequence of Clip,
    staged into config.output_dir here. `progress_path`, a file on this machine, receives a line per
    clip for the launcher's progress line (local runs only: see preprocess/progress.py).
    """
    from preprocess import staging

    if not isinstance(clips, staging.StagedClips):
        clips = staging.stage_clips(clips, staging.staged_path(config.output_dir))
    splits = list(clips.splits)
    decoded = (
        pipeline
        | "Clips" >> staging.ReadStagedClips(clips.path)
        | "DecodeClips" >> DecodeClips(config)
    )
    if progress_path:
        from preprocess.progress import NoteProgressFn

        _ = decoded.clips | "NoteWritten" >> beam.ParDo(NoteProgressFn(progress_path, False))
        _ = decoded[DecodeClipFn.FAILED] | "NoteFailed" >> beam.ParDo(
            NoteProgressFn(progress_path, True)
        )
    shard_stats = decoded.clips | "WriteShards" >> WriteShards(config)
    cut_counts = (
        decoded.clips
        | "CutOf" >> beam.Map(lambda c: ((c.split, c.cut, c.layout, c.clamped), 1))
        | "CountCuts" >> beam.CombinePerKey(sum)
    )
    return (
        pipeline
        | "Start" >> beam.Create([None])
        | "Finish"
        >> beam.Map(
            finish_run,
            shard_stats=beam.pvalue.AsList(shard_stats),
            failures=beam.pvalue.AsList(decoded[DecodeClipFn.FAILED]),
            cut_counts=beam.pvalue.AsList(cut_counts),
            config=config,
            splits=splits,
            num_labels=num_labels,
            command_line=command_line,
        )
    )


def _package_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("aslvid2gloss")
    except metadata.PackageNotFoundError:
        return "unknown"
