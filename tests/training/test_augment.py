"""Augmentation: one random change per clip, the same on every frame, in training input only."""

import numpy as np
import pytest
import tensorflow as tf

from tests.training.shards import write_shards
from training import augment, input_pipeline, shard_source
from training.augment import AugmentConfig, augment_clip, make_augment_fn

ALL_ON = AugmentConfig(
    augment_crop_scale=0.7,
    augment_rotation_degrees=10,
    augment_brightness=0.2,
    augment_contrast=0.2,
    augment_hflip=True,
)


def textured_clip(frames=4, size=48, same_frames=True, seed=0):
    rng = np.random.default_rng(seed)
    first = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    if same_frames:
        return np.repeat(first[None], frames, axis=0)
    return rng.integers(0, 256, (frames, size, size, 3), dtype=np.uint8)


def seed(i):
    return tf.constant([0, i], tf.int64)


def test_defaults_change_nothing_and_are_off():
    assert not AugmentConfig().enabled and make_augment_fn(AugmentConfig()) is None
    clip = textured_clip()
    out = augment_clip(clip, seed(3), AugmentConfig()).numpy()
    np.testing.assert_array_equal(out, clip)


@pytest.mark.parametrize("in_tf_data", [False, True])
def test_same_change_on_every_frame_uint8_same_shape(in_tf_data):
    clip = textured_clip(same_frames=True)
    if in_tf_data:
        ds = tf.data.Dataset.from_tensors(clip).map(lambda c: augment_clip(c, seed(1), ALL_ON))
        out = next(iter(ds)).numpy()
    else:
        out = augment_clip(clip, seed(1), ALL_ON).numpy()
    assert out.dtype == np.uint8 and out.shape == clip.shape
    assert np.abs(out.astype(int) - clip).mean() > 10, "the clip was changed"
    for t in range(1, len(out)):
        np.testing.assert_array_equal(out[t], out[0])  # identical frames stay identical


def test_deterministic_per_seed_and_different_across_seeds():
    clip = textured_clip(same_frames=False)
    a = augment_clip(clip, seed(5), ALL_ON).numpy()
    np.testing.assert_array_equal(a, augment_clip(clip, seed(5), ALL_ON).numpy())
    assert not np.array_equal(a, augment_clip(clip, seed(6), ALL_ON).numpy())


def test_flip_mirrors_exactly_about_half_the_clips():
    clip = textured_clip(same_frames=False)
    flip_only = AugmentConfig(augment_hflip=True)
    flipped = 0
    for i in range(40):
        out = augment_clip(clip, seed(i), flip_only).numpy()
        if np.array_equal(out, clip[:, :, ::-1]):
            flipped += 1
        else:
            np.testing.assert_array_equal(out, clip)
    assert 10 <= flipped <= 30


def test_brightness_moves_every_frame_by_the_same_amount():
    clip = np.full((3, 48, 48, 3), 100, np.uint8)
    clip[1] = 120
    out = augment_clip(clip, seed(2), AugmentConfig(augment_brightness=0.2)).numpy().astype(int)
    shifts = out.reshape(3, -1).mean(axis=1) - clip.reshape(3, -1).mean(axis=1)
    assert abs(shifts[0]) > 1 and np.allclose(shifts, shifts[0], atol=1)


def test_rotation_about_the_centre():
    clip = np.zeros((1, 49, 49, 3), np.uint8)
    clip[0, 24, 40] = 255  # a dot right of the centre
    out = augment_clip(clip, seed(0), AugmentConfig(augment_rotation_degrees=45)).numpy()
    y, x = np.unravel_index(out[0, :, :, 0].argmax(), out.shape[1:3])
    assert np.hypot(y - 24, x - 24) == pytest.approx(16, abs=1.5), "same distance from centre"
    assert (y, x) != (24, 40), "moved"


@pytest.mark.parametrize("bad", [dict(augment_crop_scale=0), dict(augment_rotation_degrees=-1),
                                 dict(augment_brightness=2), dict(augment_contrast=1)])  # fmt: skip
def test_bad_ranges_name_the_flag(bad):
    with pytest.raises(ValueError, match=f"--{next(iter(bad))}"):
        AugmentConfig(**bad)


def test_help_says_a_flip_swaps_the_signing_hand():
    from absl import flags

    fv = flags.FlagValues()
    augment.define_flags(fv)
    assert "signing hand" in fv["augment_hflip"].help and fv["augment_hflip"].default is False


def test_pipeline_augments_training_batches_only(tmp_path):
    write_shards(str(tmp_path), num_examples=4, num_labels=2, num_shards=1)
    source = shard_source.open_source(f"{tmp_path}/train-*")
    fn = make_augment_fn(ALL_ON)

    def first_batch(training, augment_fn):
        ds = input_pipeline.make_dataset(
            source.files, source.info, 4, training=training, shuffle_buffer=0, seed=0,
            augment=augment_fn,
        )  # fmt: skip
        return next(iter(ds))[0].numpy()

    plain = first_batch(training=False, augment_fn=None)
    np.testing.assert_array_equal(first_batch(training=True, augment_fn=None), plain)
    # Evaluation input ignores augment even when given one; training input applies it.
    np.testing.assert_array_equal(first_batch(training=False, augment_fn=fn), plain)
    augmented = first_batch(training=True, augment_fn=fn)
    assert augmented.shape == plain.shape and not np.allclose(augmented, plain)
    np.testing.assert_array_equal(first_batch(training=True, augment_fn=fn), augmented)
