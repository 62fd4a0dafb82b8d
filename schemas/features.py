"""Feature keys, their spec, and the one object that encodes and parses a clip record.

Both jobs import this module: preprocess calls `ClipSchema.encode`, training calls
`ClipSchema.parse`. Nothing else in the project spells a feature key, so a change to
the contract shows up here, in one diff, on both sides.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from schemas import example_proto, jpeg
from schemas.lazy_tf import tensorflow as tf

# Bumped whenever a key, dtype or meaning changes; written to dataset.json and checked on read.
# Version 2 only adds features (provenance), so readers take both: see SCHEMA_VERSIONS_READ.
SCHEMA_VERSION = 2
SCHEMA_VERSIONS_READ = (1, 2)

FRAMES = "frames"
LABEL = "label"
GLOSS = "gloss"
VIDEO_ID = "video_id"
SPLIT = "split"
SOURCE = "source"
INSTANCE_ID = "instance_id"
SIGNER_ID = "signer_id"
FRAME_START = "frame_start"
FRAME_END = "frame_end"
FRAME_INDICES = "frame_indices"
NUM_SOURCE_FRAMES = "num_source_frames"
# Version 2: where the record came from and how it was cut (docs/design.md, "Record contract").
CLIP_ID = "clip_id"  # unique in the dataset
PATH = "path"  # the video as the manifest names it (relative to --video_dir or the manifest)
CUT = "cut"  # which rule cut the clip: one of CUT_RULES
LAYOUT = "layout"  # WLASL: 'processed' or 'raw'; '' for other formats
CUT_FIRST = "cut_first"  # 0-based first and last decoded frame the rule gave (frame_indices
CUT_LAST = "cut_last"  # are sampled between them)
CLAMPED = "clamped"  # 1: the clip's range ran past the video's end and was cut there
WINDOW_START = "window_start_s"  # the time rules' window in seconds; -1 for the frame rules
WINDOW_END = "window_end_s"  # -1 also for a window open to the end

FRAME_ENCODINGS = ("jpeg", "png", "raw")

# How a clip was cut out of its video file (docs/design.md, "Sampling rule"); recorded per clip.
CUT_FRAMES = "frames"  # frame numbers of the file itself, by index
CUT_STATED_RATE = "stated_rate"  # frame numbers counted at a stated fps, applied by display time
CUT_TIME_WINDOW = "time_window"  # [start_time, end_time) in seconds, by display time
CUT_WHOLE_FILE = "whole_file"  # the file is already the clip (WLASL's pre-cut processed videos)
CUT_RULES = (CUT_FRAMES, CUT_STATED_RATE, CUT_TIME_WINDOW, CUT_WHOLE_FILE)

# Metadata keys by kind; frames and frame_indices depend on the clip shape and are added per schema.
_BYTES_KEYS = (GLOSS, VIDEO_ID, SPLIT, SOURCE)
_INT_KEYS = (LABEL, INSTANCE_ID, SIGNER_ID, FRAME_START, FRAME_END, NUM_SOURCE_FRAMES)
# Version-2 keys with the value a version-1 record reads as (it has none of them).
_V2_BYTES_KEYS = (CLIP_ID, PATH, CUT, LAYOUT)
_V2_INT_KEYS = (CUT_FIRST, CUT_LAST, CLAMPED)
_V2_FLOAT_KEYS = (WINDOW_START, WINDOW_END)


@dataclasses.dataclass(frozen=True)
class ClipMeta:
    """Everything a record says about its clip besides the pixels ('' and -1 mean unknown)."""

    label: int
    gloss: str
    frame_indices: tuple[int, ...]
    num_source_frames: int
    video_id: str = ""
    split: str = ""
    source: str = ""
    instance_id: int = -1
    signer_id: int = -1
    frame_start: int = 1
    frame_end: int = -1
    clip_id: str = ""
    path: str = ""
    cut: str = ""
    layout: str = ""
    cut_first: int = -1
    cut_last: int = -1
    clamped: bool = False
    window_start_s: float = -1.0
    window_end_s: float = -1.0


@dataclasses.dataclass(frozen=True)
class FeatureSpec:
    """One fixed-length feature of the record: kind 'bytes', 'int64' or 'float', its shape, and
    the value a record without it reads as (None: every record has it)."""

    kind: str
    shape: tuple[int, ...]
    default: Any = None


# The default clip: 20 frames of 150 x 150 (the original work's shape). Spelled here once; the
# flags, the video floor and the model take it from here.
NUM_FRAMES = 20
SIZE = 150


@dataclasses.dataclass(frozen=True)
class ClipSchema:
    """Clip shape and frame encoding: the settings that dataset.json records for a dataset."""

    num_frames: int = NUM_FRAMES
    size: int = SIZE
    frame_encoding: str = "jpeg"
    jpeg_quality: int = 95

    def __post_init__(self):
        if not isinstance(self.num_frames, int) or self.num_frames < 1:
            raise ValueError(f"num_frames must be a positive integer, got {self.num_frames!r}")
        if not isinstance(self.size, int) or self.size < 1:
            raise ValueError(f"size must be a positive integer, got {self.size!r}")
        if self.frame_encoding not in FRAME_ENCODINGS:
            raise ValueError(
                f"frame_encoding must be one of {FRAME_ENCODINGS}, got {self.frame_encoding!r}"
            )
        if not isinstance(self.jpeg_quality, int) or not 1 <= self.jpeg_quality <= 100:
            raise ValueError(
                f"jpeg_quality must be an integer in [1, 100], got {self.jpeg_quality!r}"
            )

    @property
    def frame_shape(self) -> tuple[int, int, int, int]:
        return (self.num_frames, self.size, self.size, 3)

    # ---------------------------------------------------------------- encode
    def encode(self, frames: np.ndarray, meta: ClipMeta) -> bytes:
        """Serialized `tf.train.Example` for one clip; refuses frames that break the contract."""
        return self.encode_record(self.encode_frames(frames), meta)

    def encode_frames(self, frames: np.ndarray) -> list[bytes]:
        """The `frames` feature's values: what the decoding process sends back instead of
        pixels (about a tenth of the bytes through its pipe)."""
        self._check_frames(frames)
        return self._encode_frames(frames)

    @property
    def encodes_without_tensorflow(self) -> bool:
        """Whether encode_frames runs without TensorFlow (JPEG through Pillow, raw bytes); PNG
        needs it, and a decoding process never loads it (schemas/jpeg.py says why)."""
        return self.frame_encoding != "png"

    def encode_record(self, encoded_frames: list[bytes], meta: ClipMeta) -> bytes:
        """Serialized `tf.train.Example` from frames already encoded by `encode_frames`."""
        expected = 1 if self.frame_encoding == "raw" else self.num_frames
        if len(encoded_frames) != expected:
            raise ValueError(f"frames must be {expected} encoded values, got {len(encoded_frames)}")
        indices = tuple(int(i) for i in meta.frame_indices)
        if len(indices) != self.num_frames:
            raise ValueError(
                f"frame_indices must have {self.num_frames} values, got {len(indices)}"
            )
        if not isinstance(meta.label, (int, np.integer)) or meta.label < 0:
            raise ValueError(f"label must be a non-negative integer, got {meta.label!r}")
        bytes_features = {FRAMES: list(encoded_frames)}
        for key in _BYTES_KEYS + _V2_BYTES_KEYS:
            bytes_features[key] = [str(getattr(meta, key)).encode("utf-8")]
        int_features = {FRAME_INDICES: indices}
        for key in _INT_KEYS + _V2_INT_KEYS:
            int_features[key] = [int(getattr(meta, key))]
        float_features = {key: [float(getattr(meta, key))] for key in _V2_FLOAT_KEYS}
        # protobuf, not TensorFlow: the preprocess job runs without importing it. The bytes are
        # those of tf.train.Example.SerializeToString(deterministic=True), map keys sorted, so
        # shards stay byte-identical run to run (tests/schemas/test_example_proto.py).
        return example_proto.serialize_example(bytes_features, int_features, float_features)

    def _check_frames(self, frames: Any) -> None:
        if not isinstance(frames, np.ndarray):
            raise ValueError(f"frames must be a numpy array, got {type(frames).__name__}")
        if frames.dtype != np.uint8:
            raise ValueError(f"frames must be uint8 in [0, 255], got dtype {frames.dtype}")
        if frames.shape != self.frame_shape:
            raise ValueError(
                f"frames must have shape {self.frame_shape} (T, H, W, RGB), got {frames.shape}"
            )

    def _encode_frames(self, frames: np.ndarray) -> list[bytes]:
        if self.frame_encoding == "raw":
            return [np.ascontiguousarray(frames).tobytes()]
        if self.frame_encoding == "png":
            return [tf.io.encode_png(f).numpy() for f in frames]
        return [jpeg.encode_jpeg(f, self.jpeg_quality) for f in frames]

    # ----------------------------------------------------------------- parse
    def feature_specs(self) -> dict[str, FeatureSpec]:
        """Every feature `encode` writes, in plain Python: what `parse_spec` and the TFDS
        features (schemas/tfds_features.py) are built from, so neither spells a key."""
        frame_values = 1 if self.frame_encoding == "raw" else self.num_frames
        spec = {
            FRAMES: FeatureSpec("bytes", (frame_values,)),
            FRAME_INDICES: FeatureSpec("int64", (self.num_frames,)),
        }
        spec.update({k: FeatureSpec("bytes", ()) for k in _BYTES_KEYS})
        spec.update({k: FeatureSpec("int64", ()) for k in _INT_KEYS})
        # Defaults let version-1 records parse: they read as '' / -1 ("unknown").
        spec.update({k: FeatureSpec("bytes", (), "") for k in _V2_BYTES_KEYS})
        spec.update({k: FeatureSpec("int64", (), -1) for k in _V2_INT_KEYS})
        spec.update({k: FeatureSpec("float", (), -1.0) for k in _V2_FLOAT_KEYS})
        return spec

    def parse_spec(self) -> dict[str, tf.io.FixedLenFeature]:
        """The `tf.io.parse_example` spec matching `encode`."""
        dtypes = {"bytes": tf.string, "int64": tf.int64, "float": tf.float32}
        return {
            key: tf.io.FixedLenFeature(list(spec.shape), dtypes[spec.kind], spec.default)
            for key, spec in self.feature_specs().items()
        }

    def parse(self, serialized: tf.Tensor, float_frames: bool = True) -> dict[str, tf.Tensor]:
        """One serialized record → tensors; frames (T, H, W, 3) float32 in [0, 1] or uint8.

        Works eagerly and inside `tf.data.Dataset.map`. A frame of the wrong size fails
        with an InvalidArgumentError naming the expected shape instead of flowing on.
        """
        parsed = tf.io.parse_single_example(serialized, self.parse_spec())
        frames = self.decode_frames(parsed[FRAMES])
        parsed[FRAMES] = (
            tf.image.convert_image_dtype(frames, tf.float32) if float_frames else frames
        )
        return parsed

    def parse_training(self, serialized: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(uint8 frames (T, H, W, 3), int64 label) of one record: the two features a training
        step reads. The others are provenance for people and tools; parsing them for every clip
        of every epoch only slowed the input pipeline."""
        spec = self.parse_spec()
        parsed = tf.io.parse_single_example(serialized, {k: spec[k] for k in (FRAMES, LABEL)})
        return self.decode_frames(parsed[FRAMES]), parsed[LABEL]

    def decode_frames(self, encoded: tf.Tensor) -> tf.Tensor:
        """The `frames` feature's values → uint8 (T, H, W, 3)."""
        if self.frame_encoding == "raw":
            flat = tf.io.decode_raw(encoded[0], tf.uint8)
            flat = tf.ensure_shape(flat, [int(np.prod(self.frame_shape))])
            return tf.reshape(flat, self.frame_shape)
        decode = tf.io.decode_png if self.frame_encoding == "png" else tf.io.decode_jpeg
        # T is static, so unrolling beats a tf.map_fn while-loop and keeps shapes static.
        frames = tf.stack([decode(encoded[t], channels=3) for t in range(self.num_frames)])
        return tf.ensure_shape(frames, self.frame_shape)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, config: dict[str, Any]) -> "ClipSchema":
        return cls(**{f.name: config[f.name] for f in dataclasses.fields(cls) if f.name in config})
