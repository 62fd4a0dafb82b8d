"""A small synthetic sign dataset: real H.264 videos of class-specific motions, a WLASL JSON.

Tests and `make demo` need data that downloads nothing, exercises the same code paths as
WLASL (JSON manifest, frame ranges, stated 25 fps, train/val/test splits) and that the
network can actually learn: each class is a blob ("hand") following its own path, while
speed, size, phase, colours, background, noise and clip length vary per instance.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os

import av
import numpy as np

FPS = 25

# Each class is a path: t in [0, 1] → (x, y) in [-1, 1]². Distinct shapes make the task learnable.
_PATHS = (
    ("circle", lambda t: (math.cos(2 * math.pi * t), math.sin(2 * math.pi * t))),
    ("left-right", lambda t: (math.cos(2 * math.pi * t), 0.0)),
    ("up-down", lambda t: (0.0, math.cos(2 * math.pi * t))),
    ("diagonal", lambda t: (math.cos(2 * math.pi * t), math.cos(2 * math.pi * t))),
    ("figure-eight", lambda t: (math.sin(2 * math.pi * t), math.sin(4 * math.pi * t))),
    ("anti-diagonal", lambda t: (math.cos(2 * math.pi * t), -math.cos(2 * math.pi * t))),
    ("swoop", lambda t: (2 * t - 1, -math.cos(math.pi * t))),
    ("still-top", lambda t: (0.1 * math.sin(6 * math.pi * t), -0.7)),
    ("zigzag", lambda t: (2 * t - 1, 0.8 * (2 * abs((4 * t) % 2 - 1) - 1))),
    ("spiral", lambda t: (t * math.cos(4 * math.pi * t), t * math.sin(4 * math.pi * t))),
)
MAX_CLASSES = len(_PATHS)


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    num_classes: int = 5
    clips_per_class: int = 12
    width: int = 96
    height: int = 96
    seed: int = 0
    # Fractions of each class's clips that go to val and test; the rest are train.
    val_fraction: float = 0.17
    test_fraction: float = 0.17

    def __post_init__(self):
        if not 1 <= self.num_classes <= MAX_CLASSES:
            raise ValueError(f"num_classes must be in [1, {MAX_CLASSES}], got {self.num_classes}")
        if self.clips_per_class < 1:
            raise ValueError(f"clips_per_class must be >= 1, got {self.clips_per_class}")
        if self.width < 16 or self.height < 16 or self.width % 2 or self.height % 2:
            raise ValueError(
                "width and height must be even and >= 16 (H.264 4:2:0), "
                f"got {self.width}x{self.height}"
            )
        if not (0 <= self.val_fraction < 1 and 0 <= self.test_fraction < 1):
            raise ValueError("val_fraction and test_fraction must be in [0, 1)")
        if self.val_fraction + self.test_fraction >= 1:
            raise ValueError("val_fraction + test_fraction must leave room for train clips")


def render_clip(path_fn, num_frames: int, width: int, height: int, rng: np.random.Generator):
    """Frames (N, H, W, 3) uint8 of one blob tracing `path_fn` once, varied per instance."""
    background = rng.integers(20, 110, size=3).astype(np.float32)
    colour = rng.integers(170, 255, size=3).astype(np.float32)
    radius = rng.uniform(0.09, 0.15) * min(width, height)
    amplitude = rng.uniform(0.55, 0.75)
    phase = rng.uniform(-0.08, 0.08)
    centre = rng.uniform(-0.08, 0.08, size=2)
    noise = rng.uniform(2.0, 8.0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    for i in range(num_frames):
        t = (i / max(num_frames - 1, 1) + phase) % 1.0
        x, y = path_fn(t)
        cx = (0.5 + 0.5 * (centre[0] + amplitude * x)) * (width - 1)
        cy = (0.5 + 0.5 * (centre[1] + amplitude * y)) * (height - 1)
        mask = np.clip(radius + 0.5 - np.hypot(xx - cx, yy - cy), 0.0, 1.0)[..., None]
        image = background * (1 - mask) + colour * mask
        image += rng.normal(0.0, noise, size=image.shape)
        frames[i] = np.clip(image, 0, 255).astype(np.uint8)
    return frames


def write_h264(path: str, frames: np.ndarray, fps: int = FPS) -> None:
    """Writes an H.264 mp4 with B-frames, as real sign videos are encoded."""
    with av.open(path, mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width = frames.shape[2]
        stream.height = frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "20", "preset": "veryfast", "bf": "2", "g": "50"}
        # x264 with threads picks frame-type decisions per thread count; one thread keeps output
        # byte-identical from machine to machine.
        stream.codec_context.thread_count = 1
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def make_dataset(output_dir: str, config: SyntheticConfig = SyntheticConfig()) -> str:
    """Writes `videos/*.mp4` and `WLASL_v0.3.json` under `output_dir`; returns the JSON path.

    Some instances sit inside longer videos (still frames before and after) and name their
    sign with frame_start/frame_end, as WLASL's ASLLVD-derived instances do.
    """
    rng = np.random.default_rng(config.seed)
    video_dir = os.path.join(output_dir, "videos")
    os.makedirs(video_dir, exist_ok=True)
    n_val = (
        max(1, round(config.clips_per_class * config.val_fraction)) if config.val_fraction else 0
    )
    n_test = (
        max(1, round(config.clips_per_class * config.test_fraction)) if config.test_fraction else 0
    )
    entries = []
    for label in range(config.num_classes):
        name, path_fn = _PATHS[label]
        instances = []
        for i in range(config.clips_per_class):
            video_id = f"{label:02d}{i:03d}"
            sign_frames = int(rng.integers(24, 61))
            frames = render_clip(path_fn, sign_frames, config.width, config.height, rng)
            frame_start, frame_end = 1, -1
            if i % 4 == 3:
                # A longer video: still frames before and after the sign.
                lead, tail = int(rng.integers(3, 15)), int(rng.integers(3, 15))
                frames = np.concatenate([frames[:1]] * lead + [frames] + [frames[-1:]] * tail)
                frame_start, frame_end = lead + 1, lead + sign_frames
            write_h264(os.path.join(video_dir, f"{video_id}.mp4"), frames)
            split = "val" if i < n_val else "test" if i < n_val + n_test else "train"
            instances.append(
                {
                    "bbox": [0, 0, config.width, config.height],
                    "fps": FPS,
                    "frame_start": frame_start,
                    "frame_end": frame_end,
                    "instance_id": i,
                    "signer_id": int(rng.integers(0, 8)),
                    "source": "synthetic",
                    "split": split,
                    "url": "",
                    "variation_id": 0,
                    "video_id": video_id,
                }
            )
        entries.append({"gloss": name, "instances": instances})
    manifest = os.path.join(output_dir, "WLASL_v0.3.json")
    with open(manifest, "w", encoding="utf-8") as f:
        json.dump(entries, f, indent=1)
    return manifest
