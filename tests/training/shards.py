"""Writes tiny real shards (ClipSchema.encode + TFRecordWriter) with dataset.json and labels.txt."""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from schemas.dataset_info import DatasetInfo, read_dataset_info, write_dataset_info, write_labels
from schemas.features import ClipMeta, ClipSchema
from schemas.layout import DATASET_JSON, shard_name

# Small enough for a fast ConvLSTM2D step on CPU; 46 is the smallest side the model takes.
NUM_FRAMES = 4
SIZE = 48


def clip_for(
    label: int, num_labels: int, rng: np.random.Generator, schema: ClipSchema
) -> np.ndarray:
    """A clip whose brightness says its label (a signal the network learns in a few steps)."""
    level = int(255 * (label + 1) / (num_labels + 1))
    noise = rng.integers(-20, 21, size=schema.frame_shape)
    return np.clip(level + noise, 0, 255).astype(np.uint8)


def write_shards(
    folder: str,
    num_examples: int = 16,
    num_labels: int = 3,
    split: str = "train",
    num_shards: int = 2,
    num_frames: int = NUM_FRAMES,
    size: int = SIZE,
    frame_encoding: str = "jpeg",
    compression: str = "",
    seed: int = 0,
    labels: list[int] | None = None,
    write_info: bool = True,
) -> list[str]:
    """Writes `num_examples` clips round-robin into `num_shards` shards; returns the shard paths.

    Labels cycle through 0..num_labels-1 unless `labels` gives them (e.g. an out-of-range one).
    """
    os.makedirs(folder, exist_ok=True)
    schema = ClipSchema(num_frames=num_frames, size=size, frame_encoding=frame_encoding)
    rng = np.random.default_rng(seed)
    labels = list(labels) if labels is not None else [i % num_labels for i in range(num_examples)]
    paths = [
        os.path.join(folder, shard_name(split, i, num_shards, compression))
        for i in range(num_shards)
    ]
    options = tf.io.TFRecordOptions(compression_type=compression)
    writers = [tf.io.TFRecordWriter(p, options) for p in paths]
    try:
        for i, label in enumerate(labels):
            meta = ClipMeta(
                label=label,
                gloss=f"gloss{label}",
                frame_indices=tuple(range(num_frames)),
                num_source_frames=num_frames,
                video_id=f"v{i:05d}",
                split=split,
                instance_id=i,
            )
            frames = clip_for(label, num_labels, rng, schema)
            writers[i % num_shards].write(schema.encode(frames, meta))
    finally:
        for w in writers:
            w.close()
    if write_info:
        # A second split written into the same folder joins the first one's dataset.json.
        splits = {}
        if os.path.exists(os.path.join(folder, DATASET_JSON)):
            splits = read_dataset_info(folder).splits
        splits[split] = {"examples": len(labels), "shards": num_shards}
        info = DatasetInfo(
            clip=schema, compression=compression, splits=splits, num_labels=num_labels
        )
        write_dataset_info(folder, info)
        write_labels(folder, [f"gloss{i}" for i in range(num_labels)])
    return paths
