"""The job's decode step: (video, its clips) → an encoded record per clip, or an error row.

Each record is spilled to RECORDS_DIR, one file each, until its shard is written; only its path
and size go through Beam's shuffle, so no process ever holds more than a record (local runners
keep a GroupByKey's whole input in memory: the records themselves would make memory grow with
the dataset).
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import hashlib
import logging
import queue

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from preprocess import manifests
from preprocess.config import PreprocessConfig
from preprocess.video.messages import ClipReply, ClipRequest, DecodeError, VideoRequest, clip_window
from preprocess.video.sampling import Window
from schemas import features, fileio, layout, reasons
from schemas.features import ClipMeta
from schemas.layout import RECORDS_DIR

COUNTER_NAMESPACE = "preprocess"
# Clips of one video decoded in one pass; more are split into passes of this many, so a pass
# holds at most this many clips' frames (about 1.35 MB each at 20 x 150 x 150) in memory.
MAX_CLIPS_PER_PASS = 64


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
