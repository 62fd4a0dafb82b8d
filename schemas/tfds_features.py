"""The record contract as TFDS features, so `tfds.builder_from_directory(OUT)` reads our shards.

Built from `ClipSchema.feature_specs()`, the same specs our own parser is built from, so a key
added to the schema appears here without a change: strings become `Text`, integers and floats
`Tensor`s of their shape, `label` a `ClassLabel` named by labels.txt, and `frames` a `Sequence`
of JPEG or PNG `Image`s (TFDS stores it as we do: one bytes_list of encoded frames) or, for raw
frames, one uint8 tensor stored as bytes.

`frames` is `Sequence(Image)` rather than TFDS's `Video`, which is the same thing on disk and
when read, because `Video` imports TensorFlow when built and nothing else here does: the
preprocess launcher writes these files without loading TensorFlow (docs/design.md, "Where the
work runs"). Needs tensorflow-datasets (a launcher-side dependency; workers never import it).
"""

from __future__ import annotations

from schemas import features

# TFDS reads our shard names `{split}-00000-of-00004.tfrecord` with this template; it cannot
# read GZIP-compressed TFRecords at all (docs/design.md, "Output folder").
FILENAME_TEMPLATE = "{SPLIT}-{SHARD_X_OF_Y}.{FILEFORMAT}"


def tfds_features(schema: features.ClipSchema, labels: list[str]) -> dict:
    """{key: tfds FeatureConnector} matching what `schema.encode` writes."""
    import numpy as np
    import tensorflow_datasets as tfds

    result = {}
    for key, spec in schema.feature_specs().items():
        if key == features.FRAMES:
            if schema.frame_encoding == "raw":
                result[key] = tfds.features.Tensor(
                    shape=schema.frame_shape, dtype=np.uint8, encoding=tfds.features.Encoding.BYTES
                )
            else:
                frame = tfds.features.Image(
                    shape=schema.frame_shape[1:],
                    dtype=np.uint8,
                    encoding_format=schema.frame_encoding,
                )
                result[key] = tfds.features.Sequence(frame, length=schema.num_frames)
        elif key == features.LABEL:
            result[key] = tfds.features.ClassLabel(names=list(labels))
        elif spec.kind == "bytes":
            text = tfds.features.Text()
            result[key] = tfds.features.Sequence(text, length=spec.shape[0]) if spec.shape else text
        else:
            dtype = np.int64 if spec.kind == "int64" else np.float32
            result[key] = tfds.features.Tensor(shape=spec.shape, dtype=dtype)
    return result
