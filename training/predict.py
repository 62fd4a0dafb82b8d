"""Top-k glosses for one video, through the same decode, sampling and JPEG round trip as the shards.

    python -m training.predict --model_dir=RUN --video=clip.mp4
    python -m training.predict --model_dir=RUN --video=long.mp4 --frame_start=31 --frame_end=95 \
        --fps=25 --top_k=10

--frame_start/--frame_end count the file's own frames unless --fps gives the rate they are counted
at (WLASL's JSON says 25); a clip from a WLASL JSON is only reproduced exactly with its fps.
--checkpoint=best uses the epoch with the best validation top-1 (RUN/best.keras).
--verbosity=debug shows TensorFlow's own logs and full tracebacks.
"""

from __future__ import annotations

import dataclasses
import fractions
import logging
import sys
from typing import TYPE_CHECKING

import numpy as np

from preprocess.video import decoder as video_decoder  # PyAV and numpy: no TensorFlow
from preprocess.video import registry, sampling
from training import config, console

if TYPE_CHECKING:
    import tensorflow as tf

    from schemas.dataset_info import DatasetInfo
    from schemas.features import ClipSchema

# TensorFlow is imported inside the functions that use it, so that --help answers without it.
DEFAULT_TOP_K = 5


@dataclasses.dataclass(frozen=True)
class Prediction:
    """What the model says about one clip, and which frames it looked at."""

    top_k: list[tuple[str, float]]  # (gloss, probability), most probable first
    probabilities: np.ndarray  # (num_classes,) float32, in labels.txt order
    frame_indices: tuple[int, ...]  # 0-based display-order indices of the sampled frames
    num_source_frames: int
    clamped: bool = False  # the asked range ran past the video's end and was cut there


def round_trip(frames: np.ndarray, schema: ClipSchema) -> tf.Tensor:
    """uint8 frames → the uint8 frames a shard of `schema` would give back to the trainer.

    Encoding and parsing a record (not just the frames) means JPEG quality, chroma subsampling
    and decoder are those of training by construction, whatever the schema says.
    """
    import tensorflow as tf

    from schemas.features import FRAMES, ClipMeta

    # The metadata is never read back; only the frames and the frame count must be real.
    meta = ClipMeta(label=0, gloss="", frame_indices=(0,) * schema.num_frames, num_source_frames=0)
    record = schema.encode(frames, meta)
    return schema.parse(tf.constant(record), float_frames=False)[FRAMES]


def decode_for_model(
    path: str,
    info: DatasetInfo,
    *,
    frame_start: int = 1,
    frame_end: int = -1,
    fps: fractions.Fraction | None = None,
    crop: tuple[float, float, float, float] | None = None,
    decoder: str = "pyav",
) -> tuple[tf.Tensor, video_decoder.DecodedClip]:
    """(uint8 frames exactly as a shard record holds them, the decoded clip) for one video.

    Raises DecodeError for a video that yields no clip, ValueError for bad arguments. Every
    decoder looks at the path with decoder.check_file first, as a preprocess run's decoding child
    does, so a FIFO, a device, a dangling link or an unreadable file gets the reason here that
    it gets in errors.jsonl.
    """
    decode_clip = registry.get_decoder(decoder)
    clip = decode_clip(
        path,
        num_frames=info.clip.num_frames,
        size=info.clip.size,
        frame_start=frame_start,
        frame_end=frame_end,
        fps=fps,
        crop=crop,
    )
    return round_trip(clip.frames, info.clip), clip


def probabilities(model, frames: tf.Tensor) -> np.ndarray:
    """uint8 frames (T, S, S, 3) → class probabilities (num_classes,), as evaluate computes them."""
    import tensorflow as tf

    from training.input_pipeline import preprocess_frames

    batch = preprocess_frames(frames)[tf.newaxis]
    return np.asarray(model(batch, training=False)[0], dtype=np.float32)


def top_k(probs: np.ndarray, labels: list[str], k: int) -> list[tuple[str, float]]:
    """The k most probable (gloss, probability), ties in label order; k is capped at the labels."""
    if k < 1:
        raise ValueError(f"top_k must be >= 1, got {k}")
    if len(probs) != len(labels):
        raise ValueError(f"{len(probs)} probabilities for {len(labels)} labels")
    order = np.argsort(-probs, kind="stable")[:k]
    return [(labels[i], float(probs[i])) for i in order]


def predict_video(
    model,
    labels: list[str],
    info: DatasetInfo,
    path: str,
    *,
    frame_start: int = 1,
    frame_end: int = -1,
    fps: fractions.Fraction | None = None,
    crop: tuple[float, float, float, float] | None = None,
    decoder: str = "pyav",
    k: int = DEFAULT_TOP_K,
) -> Prediction:
    """Decodes the clip of `path` as preprocessing did, then runs `model` (from load_run)."""
    frames, clip = decode_for_model(
        path,
        info,
        frame_start=frame_start,
        frame_end=frame_end,
        fps=fps,
        crop=crop,
        decoder=decoder,
    )
    probs = probabilities(model, frames)
    logging.debug("%s: sampled frames %s of %d", path, clip.frame_indices, clip.num_source_frames)
    return Prediction(
        top_k=top_k(probs, labels, k),
        probabilities=probs,
        frame_indices=tuple(clip.frame_indices),
        num_source_frames=clip.num_source_frames,
        clamped=clip.clamped,
    )


def recorded_decoder(info: DatasetInfo) -> str:
    """The decoder the shards were made with: dataset.json's `decoder`, or for folders written
    before it was recorded, the --decoder of its command line; pyav (preprocess's default)."""
    return info.decoder or preprocess_flag(info, "decoder") or "pyav"


def recorded_crop(info: DatasetInfo) -> str:
    """'bbox' or 'none', as the shards were cropped: dataset.json's `crop`, or for older folders
    the --crop of its command line."""
    return info.crop or ("bbox" if preprocess_flag(info, "crop") == "bbox" else "none")


def preprocess_flag(info: DatasetInfo, name: str) -> str | None:
    """The value the preprocess run that made the shards gave --name, from dataset.json's command
    line; None if it was not given (or the dataset.json records no command line). Only for
    folders whose dataset.json predates its `decoder` and `crop` fields."""
    args = list(info.command_line)
    for i, arg in enumerate(args):
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
        if arg == f"--{name}" and i + 1 < len(args):
            return args[i + 1]
    return None


def parse_fps(text: str) -> fractions.Fraction | None:
    """'' → None; '25', '29.97', '30000/1001' → an exact Fraction: the CSV manifests' parser."""
    try:
        return sampling.parse_rate(text)
    except ValueError as e:
        raise ValueError(f"expected {e}, got {text!r}") from None


def parse_crop(text: str) -> tuple[float, float, float, float] | None:
    """'' → None; 'x0,y0,x1,y1' (pixels of the displayed frame) → a box with x0 < x1, y0 < y1."""
    if not text.strip():
        return None
    parts = [p.strip() for p in text.strip("[]() ").split(",")]
    try:
        box = tuple(float(p) for p in parts)
    except ValueError:
        box = ()
    if len(box) != 4 or not all(np.isfinite(box)):
        raise ValueError(f"expected four numbers x0,y0,x1,y1, got {text!r}")
    if not (box[0] < box[2] and box[1] < box[3]):
        raise ValueError(f"expected x0 < x1 and y0 < y1, got {text!r}")
    return box


def format_prediction(path: str, prediction: Prediction) -> str:
    """The lines the CLI prints: which frames were looked at, then the ranked glosses."""
    indices = " ".join(str(i) for i in prediction.frame_indices)
    lines = [
        f"video: {path}",
        f"frames: {len(prediction.frame_indices)} sampled of {prediction.num_source_frames} "
        f"decoded, indices {indices}",
    ]
    if prediction.clamped:
        lines.append("note: the frame range runs past the video's end; the clip was cut there")
    width = len(str(len(prediction.top_k)))
    for rank, (gloss, prob) in enumerate(prediction.top_k, 1):
        lines.append(f"{rank:>{width}}. {prob:.4f}  {gloss}")
    return "\n".join(lines)


def main(argv) -> int:
    from absl import app, flags

    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    FLAGS = flags.FLAGS
    console.import_tensorflow()
    from training import run_folder

    try:
        model, labels, info = run_folder.load_run(FLAGS.model_dir, FLAGS.checkpoint)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: --model_dir={FLAGS.model_dir}: {e}", file=sys.stderr)
        return 2
    decoder = FLAGS.decoder or recorded_decoder(info)
    if recorded_crop(info) == "bbox" and not FLAGS.crop_bbox:
        print(
            "warning: the shards were cropped to each clip's bbox (preprocess --crop=bbox); "
            "without --crop_bbox the whole frame is squashed and the model sees other pixels",
            file=sys.stderr,
        )
    try:
        prediction = predict_video(
            model,
            labels,
            info,
            FLAGS.video,
            frame_start=FLAGS.frame_start,
            frame_end=FLAGS.frame_end,
            fps=parse_fps(FLAGS.fps),
            crop=parse_crop(FLAGS.crop_bbox),
            decoder=decoder,
            k=FLAGS.top_k,
        )
    except video_decoder.DecodeError as e:
        print(f"error: cannot decode {e.path}: {e.reason}: {e.detail}", file=sys.stderr)
        return 1
    except ValueError as e:  # decord not installed, and other arguments wrong for any video
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_prediction(FLAGS.video, prediction))
    return 0


def define_flags(fv=None) -> None:
    """Defines the flags on `fv` (absl's global FLAGS by default; tests pass their own)."""
    from absl import flags

    fv = flags.FLAGS if fv is None else fv
    flags.DEFINE_string(
        "model_dir", None, "Run folder written by python -m training.", flag_values=fv
    )
    flags.DEFINE_alias("model", "model_dir", flag_values=fv)
    flags.DEFINE_string("video", None, "Video file (local path or gs:// URL).", flag_values=fv)
    flags.DEFINE_integer(
        "frame_start", 1, "First frame of the clip, 1-based.", lower_bound=1, flag_values=fv
    )
    flags.DEFINE_integer(
        "frame_end",
        -1,
        "Last frame of the clip, inclusive; -1 = to the end of the video.",
        flag_values=fv,
    )
    flags.DEFINE_string(
        "fps",
        "",
        "Rate the frame numbers are counted at (WLASL: 25), e.g. 25, 29.97 or 30000/1001; "
        "empty: they count the file's own frames.",
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "top_k",
        DEFAULT_TOP_K,
        "Glosses to print (at most the label count).",
        lower_bound=1,
        flag_values=fv,
    )
    flags.DEFINE_enum(
        "decoder",
        None,
        list(registry.DECODERS),
        "Video decoder; default: the one the shards were made with (preprocess --decoder, as "
        "RUN/dataset.json records it), else pyav.",
        flag_values=fv,
    )
    flags.DEFINE_string(
        "crop_bbox",
        "",
        "x0,y0,x1,y1 box in displayed-frame pixels to crop before resizing, as preprocess "
        "--crop=bbox does with the manifest's bbox; empty: squash the whole frame.",
        flag_values=fv,
    )
    config.define_checkpoint_flag(fv)
    flags.mark_flags_as_required(["model_dir", "video"], flag_values=fv)
    _register_validators(fv)


def _register_validators(fv) -> None:
    """Bad --fps, --crop_bbox or frame ranges are refused when the flags are parsed."""
    from absl import flags

    def check(parse):
        def validator(value):
            try:
                parse(value)
            except ValueError as e:
                raise flags.ValidationError(str(e)) from None
            return True

        return validator

    flags.register_validator("fps", check(parse_fps), flag_values=fv)
    flags.register_validator("crop_bbox", check(parse_crop), flag_values=fv)
    flags.register_validator(
        "frame_end",
        lambda v: v == -1 or v >= 1,
        message="must be -1 (to the end) or a 1-based frame number",
        flag_values=fv,
    )
    flags.register_multi_flags_validator(
        ["frame_start", "frame_end"],
        lambda f: f["frame_end"] == -1 or f["frame_end"] >= f["frame_start"],
        message="--frame_end must be -1 or >= --frame_start",
        flag_values=fv,
    )


def console_main() -> None:
    """Entry point of `python -m training.predict` and the `aslvid2gloss-predict` script."""
    console.run(main, define_flags, __doc__, lambda: "interrupted: nothing was written")


if __name__ == "__main__":
    console_main()
