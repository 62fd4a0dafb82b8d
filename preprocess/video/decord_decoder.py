"""decode_clip through decord (`--decoder=decord`): for users of the original stack; not exact.

decord seeks to reach sampled frames and lands on wrong ones for some codecs (MPEG-4 Part 2 with
B-frames over several GOPs, MPEG-2 program streams; decord issues #195, #91, #373): BUILD.md lists
them, and the default PyAV decoder is exact on all. Its frame count and frame times are decord's
(the container's index and float seconds), not a count of decoded frames.

It cannot tell damaged frame data either: decord shows neither FFmpeg's corrupt-frame flags nor
its log, so frames FFmpeg concealed errors in (and every frame predicted from them) make a record,
where the PyAV decoder fails the clip (corrupt_frame, damaged_reference). On two x264 files with
1-3 flipped bits, 50 seeds x 3 clips each, decord accepted 116 and 90 of 150 clips with pixels
other than the clean file's; PyAV accepts only those whose damage FFmpeg reports nothing about.
"""

from __future__ import annotations

import fractions
import io
from fractions import Fraction

import numpy as np

from preprocess.video import sampling
from preprocess.video.containers import declared_past_end
from preprocess.video.files import check_file, open_binary
from preprocess.video.frames import crop_resize
from preprocess.video.messages import (
    NUM_FRAMES,
    SIZE,
    DecodedClip,
    DecodeError,
    check_args,
    clip_window,
)
from schemas import fileio, reasons


def _times(path: str, reader, total: int) -> list[Fraction]:
    # decord gives float seconds; a microsecond grid restores exact frame times at common rates
    # (k/25 window edges vs 1/30 or 1001/30000 frames are either equal or >= 33 us apart).
    starts = reader.get_frame_timestamp(np.arange(total))[:, 0]
    # Frames without pts (e.g. H.264 in AVI) come back as a huge negative number for each frame.
    if total and (starts[0] < 0 or np.any(np.diff(starts) < 0)):
        raise DecodeError(path, reasons.NO_TIMESTAMPS, "decord reports no usable frame times")
    micros = [round(float(t) * 1_000_000) for t in starts]
    return [Fraction(m - micros[0], 1_000_000) for m in micros]


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
    """Same contract as preprocess.video.decoder.decode_clip (rotation as decord applies it)."""
    # Loaded on first use: decord's bundled libraries break TensorFlow's PNG decoder (BUILD.md).
    import decord

    window = clip_window(frame_start, frame_end, fps, start_time, end_time)
    check_args(num_frames, size, fps, crop)
    file_size = check_file(path)
    try:
        with open_binary(path) as f:
            past_end = declared_past_end(f, file_size)
            if past_end:
                raise DecodeError(path, reasons.TRUNCATED, past_end)
            # decord reads local paths itself; anything else it gets as bytes in memory.
            source = path if not fileio.is_remote(path) else io.BytesIO((f.seek(0), f.read())[1])
    except OSError as e:  # check_file passed, and then reading it failed (I/O error, a race)
        raise DecodeError(
            path, reasons.UNREADABLE_FILE, f"cannot read it: {e.strerror or e}"
        ) from e
    try:
        reader = decord.VideoReader(source, ctx=decord.cpu(0), num_threads=threads)
    except (decord.DECORDError, RuntimeError) as e:  # RuntimeError: "Error reading <path>..."
        raise DecodeError(path, reasons.NOT_A_VIDEO, f"decord cannot open it ({e})") from e
    total = len(reader)
    if total == 0:
        raise DecodeError(path, reasons.NO_FRAMES, "decord finds no frames")
    try:
        if window.timed:
            clip_range = sampling.range_by_time(window, _times(path, reader, total))
        else:
            clip_range = sampling.range_by_index(window, total)
        indices = sampling.sample_indices(clip_range.first, clip_range.last, num_frames)
        unique = sorted(set(indices))
        batch = reader.get_batch(unique).asnumpy()
    except sampling.RangePastEnd as e:
        raise DecodeError(path, reasons.RANGE_PAST_END, str(e), e.info) from None
    except decord.DECORDError as e:
        raise DecodeError(path, reasons.DECODE_FAILED, str(e)) from e
    by_index = {i: crop_resize(frame, size, crop, path) for i, frame in zip(unique, batch)}
    frames = np.stack([by_index[i] for i in indices])
    return DecodedClip(
        frames=frames,
        frame_indices=indices,
        num_source_frames=total,
        first=clip_range.first,
        last=clip_range.last,
        clamped=clip_range.clamped,
    )
