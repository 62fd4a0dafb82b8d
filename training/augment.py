r"""Training-only clip augmentation: one random change per clip, the same on every frame.

    python -m training ... --augment_crop_scale=0.8 --augment_rotation_degrees=5 \
        --augment_brightness=0.1 --augment_contrast=0.1

A sign is a movement: each frame of a clip gets the same crop, rotation, flip, brightness and
contrast, so the motion between frames is untouched. Only the training input applies it (see
`input_pipeline.make_for_train`); evaluate, predict and the SavedModel never do (docs/design.md).
Importing this module does not import TensorFlow, so `--help` stays fast.
"""

from __future__ import annotations

import dataclasses
import math

from absl import flags


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random changes; the defaults change nothing."""

    augment_crop_scale: float = 1.0  # smallest fraction of the frame area a random crop keeps
    augment_rotation_degrees: float = 0.0  # rotation drawn from [-d, d]
    augment_brightness: float = 0.0  # brightness shift drawn from [-b, b] of full scale
    augment_contrast: float = 0.0  # contrast factor drawn from [1 - c, 1 + c]
    augment_hflip: bool = False  # mirror half the clips (swaps the signing hand)

    def __post_init__(self):
        checks = (
            ("augment_crop_scale", 0.0 < self.augment_crop_scale <= 1.0, "in (0, 1]"),
            ("augment_rotation_degrees", 0 <= self.augment_rotation_degrees <= 45, "in [0, 45]"),
            ("augment_brightness", 0.0 <= self.augment_brightness <= 1.0, "in [0, 1]"),
            ("augment_contrast", 0.0 <= self.augment_contrast < 1.0, "in [0, 1)"),
        )
        for name, ok, expected in checks:
            value = getattr(self, name)
            if not (ok and math.isfinite(value)):
                raise ValueError(f"--{name} must be {expected}, got {value}")

    @property
    def enabled(self) -> bool:
        return self != AugmentConfig()


def define_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
    """The augmentation flags of `python -m training`."""
    d = AugmentConfig
    flags.DEFINE_float(
        "augment_crop_scale",
        d.augment_crop_scale,
        "Random resized crop: each training clip is cropped to a random square keeping between "
        "this fraction and all of the frame area, then scaled back; 1 = off (try 0.8).",
        flag_values=fv,
    )
    flags.DEFINE_float(
        "augment_rotation_degrees",
        d.augment_rotation_degrees,
        "Rotate each training clip by a random angle in [-d, d] degrees; 0 = off (try 5).",
        flag_values=fv,
    )
    flags.DEFINE_float(
        "augment_brightness",
        d.augment_brightness,
        "Shift each training clip's brightness by a random amount in [-b, b] of full scale; "
        "0 = off (try 0.1).",
        flag_values=fv,
    )
    flags.DEFINE_float(
        "augment_contrast",
        d.augment_contrast,
        "Scale each training clip's contrast by a random factor in [1 - c, 1 + c]; 0 = off.",
        flag_values=fv,
    )
    flags.DEFINE_boolean(
        "augment_hflip",
        d.augment_hflip,
        "Mirror half of the training clips left-right. Off by default: a mirrored clip swaps "
        "the signing hand (a right-handed signer becomes left-handed), which changes some signs.",
        flag_values=fv,
    )


def from_flags(fv: flags.FlagValues = flags.FLAGS) -> AugmentConfig:
    return AugmentConfig(**{f.name: fv[f.name].value for f in dataclasses.fields(AugmentConfig)})


def augment_clip(frames, seed, config: AugmentConfig):
    """uint8 clip (T, H, W, 3) → uint8 clip of the same shape, changed by one random draw.

    `seed` is a shape-(2,) integer tensor: the same seed gives the same clip (stateless random
    ops), so a tf.data pipeline stays deterministic whatever its parallelism.
    """
    import tensorflow as tf

    frames = tf.convert_to_tensor(frames)
    if frames.dtype != tf.uint8 or frames.shape.rank != 4:
        raise ValueError(
            f"expected a uint8 clip (T, H, W, 3), got {frames.dtype.name} {frames.shape}"
        )
    u = tf.random.stateless_uniform([7], seed=seed)
    x = tf.cast(frames, tf.float32)
    x = _warp(x, _affine(tf.shape(frames), u, config))
    x = _colour(x, u, config)
    return tf.cast(tf.round(tf.clip_by_value(x, 0.0, 255.0)), tf.uint8)


def _affine(shape, u, config: AugmentConfig):
    """The projective transform (8 numbers) mapping output pixels to input pixels.

    input = crop centre + r · R(angle) · F · (output − frame centre), where r is the crop's side
    over the frame's, R a rotation and F an optional mirror.
    """
    import tensorflow as tf

    height, width = tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
    side = tf.sqrt(config.augment_crop_scale + (1.0 - config.augment_crop_scale) * u[0])
    angle = (2.0 * u[1] - 1.0) * config.augment_rotation_degrees * math.pi / 180.0
    cx, cy = (width - 1.0) / 2.0, (height - 1.0) / 2.0
    # The crop's centre moves at most as far as keeps the crop inside the frame.
    ccx = cx + (2.0 * u[2] - 1.0) * (1.0 - side) * width / 2.0
    ccy = cy + (2.0 * u[3] - 1.0) * (1.0 - side) * height / 2.0
    flip = -1.0 if config.augment_hflip else 1.0
    mirror = tf.where(u[6] < 0.5, flip, 1.0)
    cos, sin = tf.cos(angle) * side, tf.sin(angle) * side
    a0, a1, b0, b1 = cos * mirror, -sin, sin * mirror, cos
    return tf.stack([a0, a1, ccx - a0 * cx - a1 * cy, b0, b1, ccy - b0 * cx - b1 * cy, 0.0, 0.0])


def _warp(x, transform):
    import tensorflow as tf

    # One transform for every frame of the clip: the same geometry across time.
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=x,
        transforms=transform[tf.newaxis],
        output_shape=tf.shape(x)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        # Reflected borders: black corners would tell the network which clips were rotated.
        fill_mode="REFLECT",
    )


def _colour(x, u, config: AugmentConfig):
    import tensorflow as tf

    contrast = 1.0 + (2.0 * u[4] - 1.0) * config.augment_contrast
    brightness = (2.0 * u[5] - 1.0) * config.augment_brightness * 255.0
    mean = tf.reduce_mean(x, axis=[1, 2], keepdims=True)
    return (x - mean) * contrast + mean + brightness


def make_augment_fn(config: AugmentConfig):
    """`augment_clip` bound to `config`, or None when every change is off (nothing to run)."""
    if not config.enabled:
        return None
    return lambda frames, seed: augment_clip(frames, seed, config)
