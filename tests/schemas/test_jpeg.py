"""schemas.jpeg writes exactly tf.io.encode_jpeg's bytes, and a decoding process that encodes
never loads TensorFlow (schemas/jpeg.py says why both matter)."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from schemas import jpeg
from schemas.features import ClipSchema

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _frames(rng, size):
    """Noise, a smooth gradient with a little noise, flat colour, and hard edges."""
    noise = rng.integers(0, 256, (size, size, 3))
    ramp = np.linspace(0, 220, size)[None, :, None] + rng.integers(0, 30, (size, size, 3))
    flat = np.full((size, size, 3), rng.integers(0, 256, 3))
    edges = (np.indices((size, size)).sum(axis=0) % 7 < 3)[..., None] * np.array([250, 10, 90])
    return [np.clip(f, 0, 255).astype(np.uint8) for f in (noise, ramp, flat, edges)]


@pytest.mark.parametrize("quality", [1, 50, 75, 90, 95, 100])
def test_same_bytes_as_tensorflow(quality):
    rng = np.random.default_rng(quality)
    for size in (1, 7, 46, 150, 151):
        for frame in _frames(rng, size):
            ours = jpeg.encode_jpeg(frame, quality)
            theirs = tf.io.encode_jpeg(frame, quality=quality, format="rgb").numpy()
            assert ours == theirs, (quality, size)


def test_a_clip_decodes_back_through_the_training_parser():
    rng = np.random.default_rng(0)
    schema = ClipSchema(num_frames=4, size=46)
    frames = np.stack([_frames(rng, 46)[1] for _ in range(4)])  # gradients, as video looks
    decoded = schema.decode_frames(tf.constant(schema.encode_frames(frames))).numpy()
    assert decoded.shape == frames.shape
    # JPEG is lossy, and 4:2:0 drops the per-channel noise's colour (about 6 levels here);
    # frames decoded from the wrong clip or order are off by ~85.
    assert np.abs(decoded.astype(int) - frames).mean() < 10


def test_what_the_decoding_process_loads_to_encode_imports_no_tensorflow(tmp_path):
    """The decoding process's own imports (the isolation module, the decoder it resolves, the
    schema) and its JPEG and raw encoding run without TensorFlow."""
    code = (
        "import sys, numpy as np\n"
        "from preprocess.video import decoder, isolation, registry\n"
        "registry.resolve('pyav')\n"
        "from schemas.features import ClipSchema\n"
        "for encoding in ('jpeg', 'raw'):\n"
        "    schema = ClipSchema(num_frames=2, size=8, frame_encoding=encoding)\n"
        "    assert schema.encodes_without_tensorflow\n"
        "    schema.encode_frames(np.zeros(schema.frame_shape, np.uint8))\n"
        "assert not ClipSchema(frame_encoding='png').encodes_without_tensorflow\n"
        "print('tensorflow' in sys.modules)\n"
    )
    env = dict(os.environ, PYTHONPATH=REPO)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.strip() == "False", done.stderr[-2000:]
