"""What a decoder answers with, and what it is asked: the values the decoding child sends back
across its pipe (pickled), so they import nothing heavier than numpy and sampling."""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np

from preprocess.video import sampling


class DecodeError(Exception):
    """A video that yields no clip; `reason` is one of the codes in the module docstring."""

    def __init__(self, path: str, reason: str, detail: str, info: dict | None = None):
        super().__init__(f"{path}: {reason}: {detail}")
        self.path = path
        self.reason = reason
        self.detail = detail
        self.info = dict(info or {})  # numbers for errors.jsonl (range_past_end)

    def __reduce__(self):
        # Beam pickles exceptions across workers; the default would call __init__ with one arg.
        return (type(self), (self.path, self.reason, self.detail, self.info))


@dataclasses.dataclass(frozen=True)
class DecodedClip:
    frames: np.ndarray  # (num_frames, size, size, 3) uint8 RGB, upright as displayed
    frame_indices: tuple[int, ...]  # 0-based indices into the display-order decoded frames
    num_source_frames: int  # frames decoded from the video (decoding may stop after the clip)
    first: int = -1  # 0-based first and last decoded frame of the clip, after its rule
    last: int = -1
    clamped: bool = False  # the clip's window ran past the video's end and was cut there
    # The frames already encoded for the record (ClipSchema.encode_frames), when the decoding
    # process was asked to encode them; `frames` is then None.
    encoded: tuple[bytes, ...] | None = None


def check_args(num_frames: int, size: int, fps, crop) -> None:
    """ValueError for arguments that are wrong whatever the video (shared with decord_decoder)."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    if fps is not None and Fraction(fps) <= 0:
        raise ValueError(f"fps must be > 0 or None, got {fps}")
    if crop is not None:
        if len(crop) != 4 or not all(math.isfinite(v) for v in crop):
            raise ValueError(f"crop must be 4 finite numbers [x0, y0, x1, y1], got {crop}")
        if not (crop[0] < crop[2] and crop[1] < crop[3]):
            raise ValueError(f"crop must have x0 < x1 and y0 < y1, got {list(crop)}")


@dataclasses.dataclass
class ClipRequest:
    """One clip wanted from a video: its window and output shape (decode_clip's arguments)."""

    window: sampling.Window
    num_frames: int = 20
    size: int = 150
    crop: tuple[float, float, float, float] | None = None
