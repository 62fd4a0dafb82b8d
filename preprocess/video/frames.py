"""A decoded frame -> the record's (size, size, 3) uint8 RGB, upright as displayed."""

from __future__ import annotations

import math

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from preprocess.video.messages import DecodeError
from schemas import reasons

# swscale's area averaging: clean downscaling (the usual case: 240p..1080p to 150x150).
_INTERPOLATION = "AREA"


def convert(
    frame: av.VideoFrame,
    size: int,
    transform,
    crop: tuple[float, ...] | None,
    path: str,
    reformatter: VideoReformatter | None = None,
) -> np.ndarray:
    """One decoded frame -> (size, size, 3) uint8 RGB as displayed, squashed or cropped.

    `reformatter`: one per video. frame.reformat() builds a new swscale context for every frame,
    which cost 5-10x the scaling itself on small videos (BENCHMARKS.md); a shared one keeps it.
    """
    if crop is None:
        # Squash first, then turn: a plain squash to a square commutes with quarter turns.
        small = (reformatter or VideoReformatter()).reformat(
            frame, width=size, height=size, format="rgb24", interpolation=_INTERPOLATION
        )
        return np.ascontiguousarray(transform(small.to_ndarray()))
    return crop_resize(transform(frame.to_ndarray(format="rgb24")), size, crop, path)


def crop_resize(
    shown: np.ndarray, size: int, crop: tuple[float, ...] | None, path: str
) -> np.ndarray:
    """An (H, W, 3) uint8 RGB frame as displayed -> cropped (if asked), squashed to size x size."""
    if crop is None:
        box = av.VideoFrame.from_ndarray(np.ascontiguousarray(shown), format="rgb24")
        return box.reformat(width=size, height=size, interpolation=_INTERPOLATION).to_ndarray()
    h, w = shown.shape[:2]
    x0, y0 = max(0, math.floor(crop[0])), max(0, math.floor(crop[1]))
    x1, y1 = min(w, math.ceil(crop[2])), min(h, math.ceil(crop[3]))
    if x1 <= x0 or y1 <= y0:
        raise DecodeError(path, reasons.CROP_OUTSIDE_FRAME, f"crop {list(crop)} on a {w}x{h} frame")
    box = av.VideoFrame.from_ndarray(np.ascontiguousarray(shown[y0:y1, x0:x1]), format="rgb24")
    return box.reformat(width=size, height=size, interpolation=_INTERPOLATION).to_ndarray()
