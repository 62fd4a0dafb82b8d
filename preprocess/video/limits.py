"""What one clip's decoding may cost, and the cheap check of a file's header against it.

The limits travel to the decoding child (preprocess.video.isolation), which enforces the time
and address-space ones; the declared-size check refuses a video before it is decoded at all.
"""

from __future__ import annotations

import dataclasses
import math

from preprocess.video.cores import usable_cpus
from schemas import fileio, reasons

# A decoded picture may use up to 3 bytes a pixel (4:4:4 8-bit, 4:2:0 10-bit); H.264/HEVC keep
# up to 16 reference pictures, frame threads one picture each, and the conversion one more.
_BYTES_PER_PIXEL = 3
_PICTURES_HELD = 16 + 2


@dataclasses.dataclass(frozen=True)
class ClipLimits:
    """What one clip's decoding may cost; 0 turns a limit off."""

    timeout_s: float = 120.0
    memory_mb: int = 4096  # address space the child may add while decoding a clip
    max_video_frames: int = 108_000  # frames the clip needs decoded: an hour at 30 fps

    def __post_init__(self):
        if not (isinstance(self.timeout_s, (int, float)) and math.isfinite(self.timeout_s)):
            raise ValueError(
                f"clip timeout must be a finite number of seconds, got {self.timeout_s!r}"
            )
        if self.timeout_s < 0:
            raise ValueError(f"clip timeout must be >= 0 seconds (0: none), got {self.timeout_s}")
        for name in ("memory_mb", "max_video_frames"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0 (0: none), got {value!r}")


def check_declared_size(path: str, limits: ClipLimits, window):
    """DecodeError 'too_large' when the container's header announces more than the limits allow.

    Cheap (reads the header only). Files FFmpeg cannot open pass: the decoder then says why.
    """
    import av  # here: the parent imports this module for ClipLimits, and decodes nothing

    from preprocess.video.demux import declared_frames
    from preprocess.video.messages import DecodeError

    if not (limits.memory_mb or limits.max_video_frames) or fileio.is_remote(path):
        return
    try:
        container = av.open(path)
    except (av.error.FFmpegError, OSError, ValueError):
        return
    try:
        streams = list(container.streams.video)
        if not streams:
            return
        stream = streams[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        if limits.memory_mb and width and height:
            threads = min(16, usable_cpus() + 1)  # FFmpeg's automatic thread count
            need = width * height * _BYTES_PER_PIXEL * (_PICTURES_HELD + threads)
            if need > limits.memory_mb * 2**20:
                raise DecodeError(
                    path,
                    reasons.TOO_LARGE,
                    f"{width}x{height} frames need about {need // 2**20} MB to decode, over "
                    f"--clip_memory_mb={limits.memory_mb}",
                )
        total, rate = declared_frames(container, stream)
        total = total or 0
        needed = total
        # Decoding stops after the clip's last frame: only a long clip is a long decode.
        wanted = None
        if window.timed and window.end is not None and rate:
            wanted = math.ceil(window.end * rate)
        elif not window.timed and window.frame_end != -1:
            wanted = window.frame_end
        if wanted is not None:
            needed = min(total, wanted) if total else 0
        if limits.max_video_frames and needed > limits.max_video_frames:
            raise DecodeError(
                path,
                reasons.TOO_LARGE,
                f"the clip needs {needed} frames decoded ({total} declared), over "
                f"--max_video_frames={limits.max_video_frames}",
            )
    finally:
        container.close()
