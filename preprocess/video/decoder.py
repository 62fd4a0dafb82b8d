"""Video file -> sampled, upright, resized uint8 RGB frames, exactly as ffmpeg decodes it (PyAV).

Frames are decoded sequentially in display order (the order the decoder outputs them), every frame
the decoder yields counts, none is duplicated or dropped: the sequence ffmpeg's CLI writes with
`-fps_mode passthrough`. No seeking: seeking is where frame-accurate readers go wrong.

DecodeError.reason is one of schemas.reasons (it is written to errors.jsonl; the table of what
each means is there, with the record contract).

Truncated files are never a record, even when the frames a clip needs could be decoded: a file cut
short is a failed download, and a record from it would hide that. Container indexes make this
checkable up front (MP4/MOV, AVI); in formats without an index a cut file is caught when the
demuxer or decoder reports an error on the way to the clip's last frame.

Damaged frame data is never a record either. FFmpeg conceals most of it instead of failing (it
logs "error while decoding MB", "concealing N errors"), and the damage then spreads to every frame
predicted from the damaged one until the next key frame, sampled or not: see damage.Damage.
Damage that FFmpeg itself does not notice passes: H.264 carries no checksum, and a flipped bit
inside its entropy-coded data can decode as other valid data (no err_detect setting reports it
either).
"""

from __future__ import annotations

import copy
import dataclasses
import fractions
import logging
from fractions import Fraction
from typing import Callable

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from preprocess.video import sampling
from preprocess.video.damage import Damage, FFmpegLog, Redo
from preprocess.video.demux import (
    Clock,
    Source,
    check_duration,
    check_index,
    open_container,
    read_header,
    video_stream,
)
from preprocess.video.files import check_file, open_binary
from preprocess.video.frames import convert
from preprocess.video.messages import (
    NUM_FRAMES,
    SIZE,
    ClipRequest,
    DecodedClip,
    DecodeError,
    check_args,
    clip_window,
)
from schemas import reasons

log = logging.getLogger(__name__)


@dataclasses.dataclass
class _Job:
    """A clip's state during one decoding pass over its video."""

    request: ClipRequest
    tracker: sampling.RangeTracker | None  # pass 1 finds the range; pass 2 knows it
    wanted: set[int] = dataclasses.field(default_factory=set)
    stop_after: int | None = None
    kept: dict[int, np.ndarray] = dataclasses.field(default_factory=dict)
    error: DecodeError | None = None
    finished: bool = False


def _decode_pass(source: Source, jobs: list[_Job], prepare=None, threads: int = 0) -> None:
    """Decodes the video once in display order, serving every job; fills `kept`, `error`.

    prepare: a function (container, stream, file) called once the file is open (pass 1 sets
    each job's `wanted` from the container's claims there). A job stops taking frames exactly
    where it would stop alone: when its tracker is done, or after frame `stop_after`; decoding
    stops when every job has. An error of the whole file is raised (it is every job's error);
    an error at a frame fails only the jobs still reading there, as each would fail alone.

    With decoding threads FFmpeg's reports of damage cannot be tied to the packet they concern
    (they come from worker threads, whenever those get to them), so the first report while a
    job still reads starts the pass again on one thread, where each report belongs to the packet
    being decoded (Damage). Clean files, nearly all, are decoded once, on all threads.
    """
    exact = threads == 1
    if not exact:
        start = [copy.deepcopy(job) for job in jobs]
        try:
            _decode_once(source, jobs, prepare, threads, exact=False)
            return
        except Redo:
            for job, fresh in zip(jobs, start):
                job.__dict__.update(copy.deepcopy(fresh).__dict__)
    _decode_once(source, jobs, prepare, 1, exact=True)


def _decode_once(source: Source, jobs: list[_Job], prepare, threads: int, exact: bool) -> None:
    with open_binary(source.path) as f:
        container = open_container(source, f)
        try:
            stream = video_stream(source, container)
            check_index(source, stream)
            if prepare is not None:
                prepare(container, stream, f)
            # Frame and slice threads give the same frames in the same order, only faster.
            stream.thread_type = "AUTO"
            stream.codec_context.thread_count = threads
            # Each frame carries the decode-order number of the packet it was decoded from.
            stream.codec_context.copy_opaque = exact
            # The reports of opening the file (its probe decodes frames) come again when those
            # frames are decoded here.
            with FFmpegLog() as ffmpeg_log:
                try:
                    _serve_jobs(source, container, stream, jobs, Damage(exact, ffmpeg_log))
                finally:
                    # Lets the frame threads finish their packets now, with the GIL free. Freeing
                    # the codec context (PyAV's dealloc, whenever the garbage collector gets to
                    # it) waits for them holding the GIL, and a thread that logs then, during any
                    # pass's capture, waits for the GIL: a deadlock.
                    stream.codec_context.flush_buffers()
        finally:
            container.close()


def _serve_jobs(source: Source, container, stream, jobs: list[_Job], damage: Damage) -> None:
    clock = Clock(Fraction(stream.time_base), stream.average_rate)
    timed = any(job.tracker is not None for job in jobs)
    converters: dict[tuple, Callable[[av.VideoFrame], np.ndarray]] = {}
    active = [job for job in jobs if not job.finished and job.error is None]
    time = None
    index = 0
    try:
        for packet in container.demux(stream):
            number = damage.next_packet(packet)  # the demuxer's reports on reading it count
            if packet.is_corrupt:
                _fail(active, DecodeError(source.path, reasons.DECODE_FAILED,
                                          f"corrupt packet after frame {index}"))  # fmt: skip
                return
            frames = stream.decode(packet)
            damage.decoded(number)
            for frame in frames:
                time = clock(frame) if timed else None
                damaged = damage.shown(frame, index)
                converted: dict[tuple, np.ndarray] = {}  # one conversion per output shape
                for job in active:
                    _take(source, job, frame, index, time, converted, converters, damaged)
                index += 1
                active = [job for job in active if not job.finished and job.error is None]
                if not active:
                    return
    except av.error.FFmpegError as e:
        _fail(active, DecodeError(source.path, reasons.DECODE_FAILED, f"after {index} frames: {e}"))
        return
    if time is not None:
        for job in active:
            if job.tracker is not None:
                try:
                    check_duration(source, container, stream, time)
                except DecodeError as e:
                    job.error = e


def _take(
    source, job: _Job, frame, index: int, time, converted: dict, converters: dict, damaged
) -> None:
    """Feeds one decoded frame to one job: its tracker, its kept frames, its stop condition.

    damaged: Damage.shown's verdict on the frame (None when nothing it depends on was reported).
    """
    if job.tracker is not None:
        if job.tracker.window.timed and time is None:
            job.error = DecodeError(
                source.path, reasons.NO_TIMESTAMPS, f"frame {index} has no time"
            )
            return
        job.tracker.add(time)
    if index in job.wanted:
        if damaged is not None:
            job.error = DecodeError(source.path, *damaged)
            return
        request = job.request
        key = (request.size, request.crop)
        if key not in converted:
            if key not in converters:
                reformatter = VideoReformatter()  # one per output shape and video (see convert)
                converters[key] = lambda fr, r=request, rf=reformatter: convert(
                    fr, r.size, source.transform, r.crop, source.path, rf
                )
            converted[key] = converters[key](frame)
        job.kept[index] = converted[key]
    if (job.tracker is not None and job.tracker.done) or (
        job.stop_after is not None and index + 1 > job.stop_after
    ):
        job.finished = True


def _fail(jobs: list[_Job], error: DecodeError) -> None:
    for job in jobs:
        job.error = error


def decode_clips(
    path: str, requests: list[ClipRequest], threads: int = 0
) -> list[DecodedClip | DecodeError]:
    """Decodes several clips of one video in one pass over it: each gets exactly the frames it
    would get from decode_clip alone (decode_clip is this function with one request).

    Returns, per request, its DecodedClip or the DecodeError that it alone would raise. Memory
    holds num_frames small frames per clip, whatever the video's length.
    """
    for request in requests:
        check_args(request.num_frames, request.size, None, request.crop)
    if not isinstance(threads, int) or threads < 0:
        raise ValueError(f"threads must be an integer >= 0 (0: one per core), got {threads!r}")
    try:
        source = Source(path, check_file(path))
        jobs = [_Job(r, sampling.RangeTracker(r.window)) for r in requests]

        # Pass 1 decodes up to the last clip's end (or the file's, for an open end), keeping only
        # the frames at the indices the container's frame count and rate predict. If a
        # prediction was wrong (variable rate, a count that lies), pass 2 decodes again up to
        # the last needed frame, now knowing exactly which ones.
        def prepare(container, stream, f):
            for job in jobs:
                guess = read_header(source, container, stream, f, job.request.window)
                if guess:
                    job.wanted = set(sampling.sample_indices(*guess, job.request.num_frames))

        _decode_pass(source, jobs, prepare, threads)
        results: list = [_result(path, job) for job in jobs]
        again = {i: r for i, r in enumerate(results) if isinstance(r, tuple)}
        if again:
            log.debug("%s: frame range guesses were wrong for %d clips; decoding again", path,
                      len(again))  # fmt: skip
            second = {
                i: _Job(requests[i], None, set(indices), max(indices), jobs[i].kept)
                for i, (indices, _) in again.items()
            }
            _decode_pass(source, list(second.values()), None, threads)
            for i, job in second.items():
                results[i] = _second_result(path, job, *again[i])
        return results
    except DecodeError as e:  # the whole file: every clip's error
        return [e] * len(requests)
    except OSError as e:  # check_file passed, and then reading it failed (I/O error, a race)
        error = DecodeError(path, reasons.UNREADABLE_FILE, f"cannot read it: {e.strerror or e}")
        return [error] * len(requests)


def _result(path: str, job: _Job):
    """After pass 1: a DecodedClip, a DecodeError, or (indices, range) when frames are missing."""
    if job.error is not None:
        return job.error
    if job.tracker.count == 0:
        return DecodeError(path, reasons.NO_FRAMES, "the video stream decodes to no frames")
    try:
        clip_range_ = clip_range(job.tracker, path)
    except DecodeError as e:
        return e
    indices = sampling.sample_indices(clip_range_.first, clip_range_.last, job.request.num_frames)
    if set(indices) - job.kept.keys():
        job.kept = {}
        return indices, (clip_range_, job.tracker.count)
    return _clip(job.kept, indices, clip_range_, job.tracker.count)


def _second_result(path: str, job: _Job, indices, found):
    clip_range_, count = found
    if job.error is not None:
        return job.error
    if set(indices) - job.kept.keys():
        return DecodeError(path, reasons.DECODE_FAILED, "a second decode yielded fewer frames")
    return _clip(job.kept, indices, clip_range_, count)


def _clip(kept, indices, clip_range_: sampling.Range, count: int) -> DecodedClip:
    return DecodedClip(
        frames=np.stack([kept[i] for i in indices]),
        frame_indices=indices,
        num_source_frames=count,
        first=clip_range_.first,
        last=clip_range_.last,
        clamped=clip_range_.clamped,
    )


def clip_range(tracker: sampling.RangeTracker, path: str) -> sampling.Range:
    """The tracker's result; a window past the video's end becomes DecodeError range_past_end."""
    try:
        return tracker.result()
    except sampling.RangePastEnd as e:
        raise DecodeError(path, reasons.RANGE_PAST_END, str(e), e.info) from None


def decode_clip(
    path: str,
    *,
    num_frames: int = NUM_FRAMES,
    size: int = SIZE,
    frame_start: int = 1,
    frame_end: int = -1,
    fps: fractions.Fraction | None = None,
    crop: tuple[float, float, float, float] | None = None,
    threads: int = 0,
    start_time: fractions.Fraction | None = None,
    end_time: fractions.Fraction | None = None,
) -> DecodedClip:
    """Decodes one clip of a video by the sampling rule of docs/design.md.

    fps None: frame numbers count the file's own frames; else they count frames at rate `fps`
    (WLASL's 25) and select by display time. start_time/end_time: a window in seconds (MS-ASL)
    instead of frame numbers, also by display time. crop: [x0, y0, x1, y1] in displayed-frame
    pixels, applied before resizing; without it frames are squashed to size x size. threads:
    FFmpeg's decoding threads, 0 = one per core; the pipeline gives each of N workers cores / N,
    since workers that each start a thread per core only fight over the cores (BENCHMARKS.md).
    Raises DecodeError (with a reason code) for a video that yields no clip, ValueError for
    arguments that are wrong whatever the video.
    """
    window = clip_window(frame_start, frame_end, fps, start_time, end_time)
    check_args(num_frames, size, fps, crop)
    (result,) = decode_clips(path, [ClipRequest(window, num_frames, size, crop)], threads)
    if isinstance(result, DecodeError):
        raise result
    return result
