"""The record contract as TFDS features, so `tfds.builder_from_directory(OUT)` reads our shards.

Built from `ClipSchema.parse_spec()`, the same spec our own parser uses, so a key added to the
schema appears here without a change: strings become `Text`, integers `Tensor`s of their shape,
`label` a `ClassLabel` named by labels.txt, and `frames` a `Video` of JPEG or PNG frames (TFDS
stores a video as we do: one bytes_list of encoded frames) or, for raw frames, one uint8 tensor
stored as bytes. Needs tensorflow-datasets (a launcher-side dependency; workers never import it).
"""

from __future__ import annotations

from schemas import features
from schemas.lazy_tf import tensorflow as tf

# TFDS reads our shard names `{split}-00000-of-00004.tfrecord` with this template; it cannot
# read GZIP-compressed TFRecords at all (docs/design.md, "Output folder").
FILENAME_TEMPLATE = "{SPLIT}-{SHARD_X_OF_Y}.{FILEFORMAT}"


def tfds_features(schema: features.ClipSchema, labels: list[str]) -> dict:
    """{key: tfds FeatureConnector} matching what `schema.encode` writes."""
    import numpy as np
    import tensorflow_datasets as tfds

    result = {}
    for key, spec in schema.parse_spec().items():
        if key == features.FRAMES:
            if schema.frame_encoding == "raw":
                result[key] = tfds.features.Tensor(
                    shape=schema.frame_shape, dtype=np.uint8, encoding=tfds.features.Encoding.BYTES
                )
            else:
                result[key] = tfds.features.Video(
                    schema.frame_shape, encoding_format=schema.frame_encoding
                )
        elif key == features.LABEL:
            result[key] = tfds.features.ClassLabel(names=list(labels))
        elif isinstance(spec, tf.io.FixedLenFeature):
            result[key] = _fixed(tfds, tuple(spec.shape), spec.dtype)
        elif isinstance(spec, tf.io.VarLenFeature):
            result[key] = _fixed(tfds, (None,), spec.dtype)
        else:
            raise ValueError(f"feature {key!r}: no TFDS equivalent for {type(spec).__name__}")
    return result


def _fixed(tfds, shape: tuple, dtype):
    if dtype == tf.string:
        if shape == ():
            return tfds.features.Text()
        return tfds.features.Sequence(tfds.features.Text(), length=shape[0])
    return tfds.features.Tensor(shape=shape, dtype=dtype.as_numpy_dtype)
