"""Real encoded test videos whose frames carry their own index, and ffmpeg's reference decode."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import imageio_ffmpeg
import numpy as np

# The displayed picture is a grid of GRID_ROWS x GRID_COLS flat black/white blocks. Corners are a
# fixed orientation marker (only the top-left one is white), so a frame shown rotated or mirrored
# reads as invalid instead of as some other index. The other blocks hold DATA_BITS bits of the frame
# index, each followed by its complement: big flat blocks survive lossy codecs and a squash to
# 150x150, and the complement pairs catch a frame that is a blend of two frames or damaged by the
# codec.
GRID_ROWS = 4
GRID_COLS = 6
_CORNERS = ((0, 0), (0, GRID_COLS - 1), (GRID_ROWS - 1, 0), (GRID_ROWS - 1, GRID_COLS - 1))
_CORNER_VALUES = (1, 0, 0, 0)
_DATA_CELLS = tuple(
    (r, c) for r in range(GRID_ROWS) for c in range(GRID_COLS) if (r, c) not in _CORNERS
)
DATA_BITS = len(_DATA_CELLS) // 2
MAX_INDEX = 2**DATA_BITS - 1

# Display size of ordinary corpus videos: small enough to encode dozens of files in seconds.
WIDTH = 96
HEIGHT = 64


def ffmpeg_exe() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


def pattern(index: int, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """The upright (as displayed) RGB picture of frame `index`, shape (height, width, 3)."""
    if not 0 <= index <= MAX_INDEX:
        raise ValueError(f"frame index {index} outside [0, {MAX_INDEX}]")
    cells = np.zeros((GRID_ROWS, GRID_COLS), np.uint8)
    for (r, c), v in zip(_CORNERS, _CORNER_VALUES):
        cells[r, c] = v
    for bit in range(DATA_BITS):
        value = (index >> bit) & 1
        cells[_DATA_CELLS[2 * bit]] = value
        cells[_DATA_CELLS[2 * bit + 1]] = 1 - value
    ys = np.arange(height) * GRID_ROWS // height
    xs = np.arange(width) * GRID_COLS // width
    picture = cells[ys][:, xs] * np.uint8(255)
    return np.repeat(picture[:, :, None], 3, axis=2)


def read_index(frame: np.ndarray, box: Sequence[float] = (0.0, 0.0, 1.0, 1.0)) -> int | None:
    """The index embedded in an RGB frame (any size), or None if the pattern does not read cleanly.

    box: (x0, y0, x1, y1) as fractions of the frame where the pattern lies.
    """
    h, w = frame.shape[:2]
    gray = frame.astype(np.float32).mean(axis=2)
    x0, y0, x1, y1 = box[0] * w, box[1] * h, box[2] * w, box[3] * h
    cell_w, cell_h = (x1 - x0) / GRID_COLS, (y1 - y0) / GRID_ROWS
    cells = np.zeros((GRID_ROWS, GRID_COLS), np.float32)
    for r in range(GRID_ROWS):
        for c in range(GRID_COLS):
            # The middle half of each block: its edges are blurred by codecs and resizing.
            ya = int(round(y0 + (r + 0.25) * cell_h))
            yb = max(ya + 1, int(round(y0 + (r + 0.75) * cell_h)))
            xa = int(round(x0 + (c + 0.25) * cell_w))
            xb = max(xa + 1, int(round(x0 + (c + 0.75) * cell_w)))
            cells[r, c] = gray[ya:yb, xa:xb].mean()
    # Blocks must be clearly black or white, not the mid-grey of a blend.
    if np.any((cells > 64) & (cells < 192)):
        return None
    bits = cells >= 128
    if tuple(int(bits[rc]) for rc in _CORNERS) != _CORNER_VALUES:
        return None
    index = 0
    for bit in range(DATA_BITS):
        value, check = bits[_DATA_CELLS[2 * bit]], bits[_DATA_CELLS[2 * bit + 1]]
        if value == check:
            return None
        index |= int(value) << bit
    return index


@dataclasses.dataclass(frozen=True)
class Spec:
    """How to write one corpus video."""

    name: str  # file name, extension picks the container
    encode: tuple[str, ...]  # ffmpeg output options (codec, muxer)
    num_frames: int = 45
    rate: str = "30"  # input frame rate given to ffmpeg
    rotation: int = 0  # display rotation metadata, counter-clockwise degrees
    width: int = WIDTH  # displayed size
    height: int = HEIGHT
    audio: str = ""  # "" for none, "first" / "last": an audio stream before / after the video
    setpts: str = ""  # an ffmpeg setpts expression for irregular timestamps (variable frame rate)
    pattern_box: tuple[int, int, int, int] | None = None  # pattern only here (pixels), grey around
    noise: bool = False  # random pixels around the pattern box: a file larger than FFmpeg's buffers


H264 = ("-c:v", "libx264", "-preset", "veryfast", "-crf", "12", "-pix_fmt", "yuv420p")
# Long GOP with B-frames (pyramid): display order differs from decode order all through the file.
H264_B = H264 + ("-x264-params", "keyint=250:min-keyint=250:bframes=3:b-pyramid=normal:log=-1")
HEVC = (
    "-c:v",
    "libx265",
    "-preset",
    "ultrafast",
    "-crf",
    "12",
    "-pix_fmt",
    "yuv420p",
    "-x265-params",
    "log-level=error:bframes=4:keyint=250",
)
# Alt-ref (hidden) frames make VP9 packets and displayed frames differ.
VP9 = ("-c:v", "libvpx-vp9", "-crf", "20", "-b:v", "0", "-deadline", "good", "-cpu-used", "8")
VP9 += ("-auto-alt-ref", "1", "-lag-in-frames", "16", "-pix_fmt", "yuv420p")
# Several GOPs: decord lands on wrong frames when it seeks into MPEG-4 Part 2 with B-frames.
MPEG4_B = ("-c:v", "mpeg4", "-q:v", "2", "-bf", "2", "-g", "12")
MPEG2_B = ("-c:v", "mpeg2video", "-q:v", "2", "-bf", "2", "-g", "15")
MJPEG = ("-c:v", "mjpeg", "-q:v", "2", "-pix_fmt", "yuvj420p")
FLV1 = ("-c:v", "flv", "-q:v", "2")

# Irregular frame durations of 40, 40 and 60 ms: t_n = (40 n + 20 floor(n / 3)) ms. Frames land
# exactly on some 25-fps window boundaries (40 ms steps), where the time rule errs most easily.
# In units of the 1/1000 time base set before it: integers, so exact.
VFR_SETPTS = "N*40+floor(N/3)*20"

SPECS: tuple[Spec, ...] = (
    Spec("h264_bframes.mp4", H264_B + ("-f", "mp4"), num_frames=75),
    Spec("h264_faststart.mp4", H264_B + ("-movflags", "+faststart"), num_frames=75),
    Spec("hevc.mp4", HEVC + ("-tag:v", "hvc1")),
    Spec("hevc.mkv", HEVC),
    Spec("vp9.webm", VP9),
    Spec("mpeg4_bframes.avi", MPEG4_B, num_frames=90),
    Spec("mpeg2.mpg", MPEG2_B + ("-f", "vob"), num_frames=90),
    Spec("mjpeg.avi", MJPEG),
    Spec("flv1.flv", FLV1),
    Spec("h264.flv", H264_B),
    Spec("h264.mkv", H264_B),
    Spec("h264_audio.mov", H264_B + ("-c:a", "aac"), audio="last"),
    Spec("h264_audio_first.mp4", H264_B + ("-c:a", "aac"), audio="first"),
    Spec("h264.avi", H264_B),
    Spec("vfr.mkv", H264_B, setpts=VFR_SETPTS),
    Spec("vfr.mp4", H264_B + ("-video_track_timescale", "1000"), setpts=VFR_SETPTS),
    Spec("rot90.mp4", H264_B, rotation=90),
    Spec("rot180.mp4", H264_B, rotation=180),
    Spec("rot270.mp4", H264_B, rotation=270),
    Spec("short7.mp4", H264_B, num_frames=7),
    Spec("one_frame.mp4", H264_B, num_frames=1),
    Spec("rate30.mp4", H264_B, num_frames=60, rate="30"),
    Spec("rate2997.mp4", H264_B, num_frames=60, rate="30000/1001"),
    Spec("rate25.mp4", H264_B, num_frames=50, rate="25"),
    Spec("crop.mp4", H264_B, width=128, height=96, pattern_box=(32, 16, 128, 80)),
    Spec(
        "crop_rot90.mp4", H264_B, width=128, height=96, rotation=90, pattern_box=(32, 16, 128, 80)
    ),
)


def _frames(spec: Spec) -> np.ndarray:
    out = []
    for i in range(spec.num_frames):
        if spec.pattern_box is None:
            upright = pattern(i, spec.width, spec.height)
        else:
            x0, y0, x1, y1 = spec.pattern_box
            upright = np.full((spec.height, spec.width, 3), 128, np.uint8)
            if spec.noise:
                rng = np.random.default_rng(i)
                upright = rng.integers(0, 256, upright.shape, dtype=np.uint8)
            upright[y0:y1, x0:x1] = pattern(i, x1 - x0, y1 - y0)
        # A player turns the stored picture counter-clockwise by `rotation`; store it turned back.
        out.append(np.rot90(upright, k=-(spec.rotation // 90)))
    return np.ascontiguousarray(np.stack(out))


def write_video(spec: Spec, folder: Path) -> Path:
    """Encodes spec's frames with the ffmpeg CLI (rawvideo piped in) into folder/spec.name."""
    frames = _frames(spec)
    stored_h, stored_w = frames.shape[1:3]
    raw_input = [
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{stored_w}x{stored_h}",
        "-framerate", spec.rate,
    ]  # fmt: skip
    if spec.rotation:
        # An input option: the encoded stream gets a display matrix saying "turn this to show it".
        raw_input = ["-display_rotation", str(spec.rotation)] + raw_input
    audio_input = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000:duration=3"]
    cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-y"]
    if spec.audio == "first":
        cmd += audio_input + raw_input + ["-i", "-", "-map", "0:a", "-map", "1:v", "-shortest"]
    elif spec.audio == "last":
        cmd += raw_input + ["-i", "-"] + audio_input + ["-map", "0:v", "-map", "1:a", "-shortest"]
    else:
        cmd += raw_input + ["-i", "-"]
    if spec.setpts:
        # settb first: setpts rounds to the time base, which is 1/rate for piped rawvideo.
        cmd += ["-vf", f"settb=1/1000,setpts={spec.setpts}", "-fps_mode", "passthrough"]
        cmd += ["-enc_time_base", "1/1000"]
    path = folder / spec.name
    cmd += list(spec.encode) + [str(path)]
    subprocess.run(cmd, input=frames.tobytes(), check=True, capture_output=True)
    return path


@dataclasses.dataclass(frozen=True)
class Reference:
    """ffmpeg CLI's own decode of a file: every displayed frame, in order."""

    indices: tuple[int | None, ...]  # the index read from each displayed frame (None: unreadable)
    times: tuple[Fraction, ...]  # display times from the first displayed frame, exact
    width: int
    height: int


_SHOWINFO_TB = re.compile(r"config in time_base: (\d+)/(\d+)")
_SHOWINFO_PTS = re.compile(r"\bn:\s*\d+\s+pts:\s*(-?\d+|NOPTS)")


def reference_decode(
    path: Path, width: int, height: int, box: Sequence[float] = (0.0, 0.0, 1.0, 1.0)
) -> Reference:
    """Decodes every frame with ffmpeg's CLI, autorotated, no frame dropped or duplicated.

    width/height: the displayed size (after rotation), which rawvideo output does not carry.
    """
    cmd = [
        ffmpeg_exe(), "-nostdin", "-v", "info", "-i", str(path), "-map", "0:v:0",
        "-vf", "showinfo", "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-",
    ]  # fmt: skip
    done = subprocess.run(cmd, check=True, capture_output=True)
    frames = np.frombuffer(done.stdout, np.uint8).reshape(-1, height, width, 3)
    log = done.stderr.decode("utf-8", "replace")
    tb = Fraction(*map(int, _SHOWINFO_TB.search(log).groups()))
    pts = [None if p == "NOPTS" else int(p) for p in _SHOWINFO_PTS.findall(log)]
    if len(pts) != len(frames):
        raise AssertionError(f"showinfo saw {len(pts)} frames, rawvideo has {len(frames)}")
    times = tuple(Fraction(p - pts[0]) * tb for p in pts) if None not in pts else ()
    return Reference(tuple(read_index(f, box) for f in frames), times, width, height)


def write_corpus(folder: Path, specs: Sequence[Spec] = SPECS) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return {spec.name: write_video(spec, folder) for spec in specs}


def write_bad_files(folder: Path, good_mp4_moov_last: Path, good_mp4_faststart: Path) -> dict:
    """Broken inputs of the kinds scraped datasets contain. Returns {case: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {"missing": folder / "does_not_exist.mp4"}
    out["empty"] = folder / "empty.mp4"
    out["empty"].write_bytes(b"")
    out["text"] = folder / "text.mp4"
    out["text"].write_text("<html><body>404 video not found</body></html>\n" * 20)
    out["random"] = folder / "random.mp4"
    out["random"].write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, np.uint8).tobytes())
    out["audio_only"] = folder / "audio_only.m4a"
    subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
         "sine=frequency=440:sample_rate=8000:duration=1", "-c:a", "aac", str(out["audio_only"])],
        check=True, capture_output=True,
    )  # fmt: skip
    for case, good in (("truncated_moov_last", good_mp4_moov_last),
                       ("truncated_faststart", good_mp4_faststart)):  # fmt: skip
        data = good.read_bytes()
        out[case] = folder / f"{case}.mp4"
        out[case].write_bytes(data[: len(data) // 2])
    return out


@dataclasses.dataclass(frozen=True)
class CorpusVideo:
    spec: Spec
    path: Path
    reference: Reference
    box: tuple[float, float, float, float]  # where the pattern lies, as fractions of the frame


def pattern_box_fraction(spec: Spec) -> tuple[float, float, float, float]:
    if spec.pattern_box is None:
        return (0.0, 0.0, 1.0, 1.0)
    x0, y0, x1, y1 = spec.pattern_box
    return (x0 / spec.width, y0 / spec.height, x1 / spec.width, y1 / spec.height)


def build(folder: Path) -> dict[str, CorpusVideo]:
    """Writes every SPECS video and decodes each with ffmpeg's CLI for its reference."""
    out = {}
    for spec, path in zip(SPECS, write_corpus(folder).values()):
        box = pattern_box_fraction(spec)
        ref = reference_decode(path, spec.width, spec.height, box)
        if ref.indices != tuple(range(spec.num_frames)):
            raise AssertionError(f"ffmpeg's own decode of {path} reads {ref.indices}")
        out[spec.name] = CorpusVideo(spec, path, ref, box)
    return out
