"""Round trips of every feature and frame encoding, eagerly and inside tf.data, and refusals."""

import numpy as np
import pytest
import tensorflow as tf

from schemas import features
from schemas.features import ClipMeta, ClipSchema

SMALL = dict(num_frames=4, size=16)


def _frames(schema, seed=0):
    rng = np.random.default_rng(seed)
    # Smooth images survive JPEG well enough to compare within a tolerance.
    base = rng.integers(0, 255, size=(schema.num_frames, 1, 1, 3))
    ramp = np.linspace(0, 60, schema.size)[None, :, None, None]
    return np.clip(base + ramp + ramp.transpose(0, 2, 1, 3), 0, 255).astype(np.uint8)


def _meta(schema, **overrides):
    values = dict(
        label=7,
        gloss="bücher 本",
        frame_indices=tuple(range(3, 3 + schema.num_frames)),
        num_source_frames=42,
        video_id="vid-01",
        split="val",
        source="aslpro",
        instance_id=5,
        signer_id=11,
        frame_start=2,
        frame_end=40,
    )
    values.update(overrides)
    return ClipMeta(**values)


@pytest.mark.parametrize("encoding", features.FRAME_ENCODINGS)
def test_round_trip_every_feature(encoding):
    schema = ClipSchema(frame_encoding=encoding, **SMALL)
    frames, meta = _frames(schema), _meta(schema)
    parsed = schema.parse(tf.constant(schema.encode(frames, meta)), float_frames=False)

    got = parsed[features.FRAMES].numpy()
    assert got.shape == schema.frame_shape and got.dtype == np.uint8
    if encoding == "jpeg":
        assert np.abs(got.astype(int) - frames).mean() < 3
    else:
        np.testing.assert_array_equal(got, frames)
    assert parsed[features.LABEL].numpy() == 7
    assert parsed[features.GLOSS].numpy().decode() == "bücher 本"
    assert parsed[features.VIDEO_ID].numpy() == b"vid-01"
    assert parsed[features.SPLIT].numpy() == b"val"
    assert parsed[features.SOURCE].numpy() == b"aslpro"
    assert parsed[features.INSTANCE_ID].numpy() == 5
    assert parsed[features.SIGNER_ID].numpy() == 11
    assert parsed[features.FRAME_START].numpy() == 2
    assert parsed[features.FRAME_END].numpy() == 40
    assert parsed[features.NUM_SOURCE_FRAMES].numpy() == 42
    assert tuple(parsed[features.FRAME_INDICES].numpy()) == meta.frame_indices


@pytest.mark.parametrize("encoding", features.FRAME_ENCODINGS)
def test_training_parse_gives_the_full_parse_frames_and_label(encoding):
    schema = ClipSchema(frame_encoding=encoding, **SMALL)
    record = tf.constant(schema.encode(_frames(schema, seed=3), _meta(schema, label=4)))
    frames, label = schema.parse_training(record)
    full = schema.parse(record, float_frames=False)
    np.testing.assert_array_equal(frames.numpy(), full[features.FRAMES].numpy())
    assert label.dtype == tf.int64 and int(label) == 4 == int(full[features.LABEL])


@pytest.mark.parametrize("encoding", features.FRAME_ENCODINGS)
def test_parse_inside_tf_data_gives_float_frames_in_unit_range(encoding):
    schema = ClipSchema(frame_encoding=encoding, **SMALL)
    frames = _frames(schema)
    records = [schema.encode(frames, _meta(schema, label=i)) for i in range(3)]
    ds = tf.data.Dataset.from_tensor_slices(records).map(schema.parse).batch(3)
    batch = next(iter(ds))
    clips = batch[features.FRAMES]
    assert clips.shape == (3, *schema.frame_shape) and clips.dtype == tf.float32
    assert 0.0 <= float(tf.reduce_min(clips)) and float(tf.reduce_max(clips)) <= 1.0
    eager = schema.parse(tf.constant(records[0]))[features.FRAMES]
    np.testing.assert_allclose(clips[0].numpy(), eager.numpy())
    assert list(batch[features.LABEL].numpy()) == [0, 1, 2]


def test_jpeg_quality_changes_bytes():
    low = ClipSchema(jpeg_quality=20, **SMALL)
    high = ClipSchema(jpeg_quality=98, **SMALL)
    frames = np.random.default_rng(1).integers(0, 255, (4, 16, 16, 3), dtype=np.uint8)
    assert len(low.encode(frames, _meta(low))) < len(high.encode(frames, _meta(high)))


def test_encoding_is_deterministic():
    schema = ClipSchema(**SMALL)
    frames = _frames(schema)
    assert schema.encode(frames, _meta(schema)) == schema.encode(frames, _meta(schema))


@pytest.mark.parametrize(
    "frames, message",
    [
        (np.zeros((4, 16, 16, 3), np.float32), "uint8"),
        (np.zeros((3, 16, 16, 3), np.uint8), r"shape \(4, 16, 16, 3\)"),
        (np.zeros((4, 16, 16), np.uint8), r"shape \(4, 16, 16, 3\)"),
        (np.zeros((4, 15, 16, 3), np.uint8), r"shape \(4, 16, 16, 3\)"),
        ([[0]], "numpy array"),
    ],
)
def test_encode_refuses_frames_that_break_the_contract(frames, message):
    schema = ClipSchema(**SMALL)
    with pytest.raises(ValueError, match=message):
        schema.encode(frames, _meta(schema))


def test_encode_refuses_bad_metadata():
    schema = ClipSchema(**SMALL)
    with pytest.raises(ValueError, match="frame_indices must have 4 values"):
        schema.encode(_frames(schema), _meta(schema, frame_indices=(1, 2)))
    with pytest.raises(ValueError, match="label must be a non-negative integer"):
        schema.encode(_frames(schema), _meta(schema, label=-1))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_frames=0), "num_frames"),
        (dict(size=-3), "size"),
        (dict(frame_encoding="gif"), "frame_encoding must be one of"),
        (dict(jpeg_quality=101), "jpeg_quality"),
    ],
)
def test_schema_refuses_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ClipSchema(**kwargs)


def test_parse_refuses_frames_of_another_size():
    written = ClipSchema(num_frames=4, size=16)
    reader = ClipSchema(num_frames=4, size=20)
    record = written.encode(_frames(written), _meta(written))
    with pytest.raises(tf.errors.InvalidArgumentError):
        reader.parse(tf.constant(record))


def test_schema_json_round_trip():
    schema = ClipSchema(num_frames=8, size=64, frame_encoding="png", jpeg_quality=80)
    assert ClipSchema.from_json(schema.to_json()) == schema
