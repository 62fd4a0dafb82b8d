"""JPEG frames without TensorFlow, byte for byte what `tf.io.encode_jpeg` writes.

The decoding process encodes each clip's frames where it decodes them, so about 90 KB instead
of 1.35 MB of pixels cross its pipe. With TensorFlow as the encoder, every decoding process first
spent seconds (and hundreds of MB) importing it, which only paid off on jobs of hundreds of
clips. Pillow's libjpeg-turbo with TensorFlow's settings (the quality, 4:2:0 chroma, baseline
Huffman tables, a 300-dpi JFIF header) writes the same bytes (tests/schemas/test_jpeg.py), so a
shard does not depend on which process encoded its frames, and shards written before this module
existed are what it writes now.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

# tf.io.encode_jpeg's defaults: density_unit="in", x_density=y_density=300, chroma_downsampling.
_DPI = (300, 300)
_SUBSAMPLING = "4:2:0"


def encode_jpeg(frame: np.ndarray, quality: int) -> bytes:
    """An (H, W, 3) uint8 RGB frame as a baseline JPEG of `quality` (1-100)."""
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(frame)).save(
        out, format="JPEG", quality=quality, dpi=_DPI, subsampling=_SUBSAMPLING
    )
    return out.getvalue()
