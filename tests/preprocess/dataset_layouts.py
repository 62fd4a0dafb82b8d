"""Real dataset release layouts, built small from frame-indexed videos, with each clip's answer.

Every builder writes one layout the way its release (or its downloader) leaves it on disk: WLASL
raw and processed, MS-ASL, ASL Citizen, AUTSL and a plain CSV. Videos are real encoded files whose
frames carry their own index (video_corpus.pattern), 96x64 and a few seconds at most, so a record's
frames can be read back and compared with `Expected.frames`: the pattern indices the record must
show, computed here from the rule in docs/design.md ("Sampling rule") with exact fractions,
independently of preprocess.video.sampling. A pre-cut file holds the pattern indices of the raw
frames it was cut from, so the same numbers hold whichever layout a clip comes from.
"""

from __future__ import annotations

import dataclasses
import json
import struct
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np

from tests.preprocess import video_corpus as vc

NUM_FRAMES = 20  # the pipeline's default --num_frames

YT_RAW = "a1B2c3D4e5F"  # an 11-character YouTube id, as youtube-dl names the download
YT_MSASL = "Zz9_-y8X7w6"


@dataclasses.dataclass(frozen=True)
class Expected:
    """What one clip of a layout must give: `frames` (pattern indices) or an `error` reason."""

    frames: tuple[int, ...] | None = None
    error: str = ""  # 'missing_file', 'range_past_end', or the decoder's reason ('no_video_stream')
    clamped: bool = False  # the window runs past the end of the video


@dataclasses.dataclass(frozen=True)
class Layout:
    """A built release: what to pass as --manifest (and --video_dir), and every clip's answer."""

    manifest: Path
    video_dir: Path | None
    expected: dict[str, Expected]  # clip_id → answer
    videos: dict[str, Path]  # name → every video file written (depth videos included)


@dataclasses.dataclass(frozen=True)
class Video:
    """A written file: the pattern index of each frame and its display time from the first."""

    path: Path
    indices: tuple[int, ...]
    rate: Fraction

    def times(self) -> list[Fraction]:
        return [k / self.rate for k in range(len(self.indices))]


# --------------------------------------------------------------------------- writing videos
def write_indexed(path: Path, indices: Sequence[int], rate: str, encode=vc.H264_B) -> Video:
    """Encodes frames showing `indices` (in order) at a constant `rate` into `path`."""
    frames = np.stack([vc.pattern(i) for i in indices])
    cmd = [
        vc.ffmpeg_exe(), "-nostdin", "-v", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{vc.WIDTH}x{vc.HEIGHT}",
        "-framerate", rate, "-i", "-", *encode, str(path),
    ]  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(cmd, input=frames.tobytes(), check=True, capture_output=True)
    return Video(path, tuple(indices), Fraction(rate))


FLV1_SWF = ("-c:v", "flv", "-q:v", "2", "-f", "swf")  # aslpro's kind of SWF: FLV1 video frames


def write_vector_swf(path: Path, frames: int = 10, rate: int = 25) -> Path:
    """A SWF that draws a filled square with shape tags and holds no video stream at all: what a
    vector (Flash animation) SWF is to FFmpeg, whose demuxer reads only video and audio tags."""
    w, h = vc.WIDTH * 20, vc.HEIGHT * 20  # twips
    shape = _Bits()
    shape.u(1, 4), shape.u(0, 4)  # one fill-style bit, no line styles
    for flag in (0, 0, 0, 1, 0, 1):  # style change: fill style 1, move to
        shape.u(flag, 1)
    shape.u(13, 5), shape.s(0, 13), shape.s(0, 13), shape.u(1, 1)
    for dx, dy in ((w // 2, 0), (0, h // 2), (-w // 2, 0), (0, -h // 2)):
        shape.u(1, 1), shape.u(1, 1), shape.u(11, 4), shape.u(1, 1)  # general line, 13 bits
        shape.s(dx, 13), shape.s(dy, 13)
    shape.u(0, 6)  # end of shape
    define = struct.pack("<H", 1) + _rect(w // 2, h // 2) + bytes([1, 0, 255, 255, 255, 0])
    body = _tag(9, bytes(3)) + _tag(2, define + shape.bytes())  # background, DefineShape
    body += _tag(26, bytes([0x02]) + struct.pack("<HH", 1, 1))  # PlaceObject2
    body += _tag(1) * frames + _tag(0)  # ShowFrame …, End
    data = _rect(w, h) + struct.pack("<HH", rate << 8, frames) + body
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"FWS" + bytes([10]) + struct.pack("<I", 8 + len(data)) + data)
    return path


class _Bits:
    def __init__(self):
        self.bits: list[int] = []

    def u(self, value: int, n: int) -> None:
        self.bits += [(value >> (n - 1 - i)) & 1 for i in range(n)]

    def s(self, value: int, n: int) -> None:
        self.u(value & ((1 << n) - 1), n)

    def bytes(self) -> bytes:
        bits = self.bits + [0] * (-len(self.bits) % 8)
        return bytes(int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8))


def _rect(x1: int, y1: int, n: int = 13) -> bytes:
    b = _Bits()
    b.u(n, 5)
    for value in (0, x1, 0, y1):
        b.s(value, n)
    return b.bytes()


def _tag(code: int, body: bytes = b"") -> bytes:
    if len(body) < 63:
        return struct.pack("<H", code << 6 | len(body)) + body
    return struct.pack("<HI", code << 6 | 0x3F, len(body)) + body


# --------------------------------------------------------------------------- the rule, again
def by_window(video: Video, start: Fraction, end: Fraction | None, n=NUM_FRAMES) -> Expected:
    """The frames a display-time window [start, end) gives (end None: to the end)."""
    times = video.times()
    if start > times[-1]:
        return Expected(error="range_past_end")
    inside = [k for k, t in enumerate(times) if t >= start and (end is None or t < end)]
    if inside:
        first, last = inside[0], inside[-1]
    else:  # shorter than a frame interval: the last frame that starts before the window ends
        first = last = max(k for k, t in enumerate(times) if t < end)
    clamped = end is not None and end > times[-1] + 1 / video.rate
    return Expected(frames=_sample(video, first, last, n), clamped=clamped)


def by_stated_rate(video: Video, frame_start: int, frame_end: int, fps, n=NUM_FRAMES):
    """WLASL / CSV frame numbers counted at `fps`: the window [(s - 1)/fps, e/fps)."""
    fps = Fraction(fps)
    end = None if frame_end == -1 else frame_end / fps
    return by_window(video, (frame_start - 1) / fps, end, n)


def whole(video: Video, n=NUM_FRAMES) -> Expected:
    return Expected(frames=_sample(video, 0, len(video.indices) - 1, n))


def _sample(video: Video, first: int, last: int, n: int) -> tuple[int, ...]:
    picks = np.round(np.linspace(first, last, n)).astype(int)
    return tuple(video.indices[k] for k in picks)


# --------------------------------------------------------------------------- WLASL
def _wlasl_instance(video_id, split, frame_start, frame_end, url, source, **extra) -> dict:
    inst = {
        "bbox": [0, 0, 96, 64],
        "fps": 25,
        "frame_end": frame_end,
        "frame_start": frame_start,
        "instance_id": extra.pop("instance_id", 0),
        "signer_id": extra.pop("signer_id", 1),
        "source": source,
        "split": split,
        "url": url,
        "variation_id": 0,
        "video_id": video_id,
    }
    inst.update(extra)
    return inst


def _write_wlasl(root: Path, entries: list[tuple[str, list[dict]]]) -> Path:
    path = root / "WLASL_v0.3.json"
    data = [{"gloss": gloss, "instances": instances} for gloss, instances in entries]
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


def build_wlasl_raw(root: Path) -> Layout:
    """What WLASL's video_downloader.py leaves: `<YouTube id>.mp4` shared by several instances
    (30 fps, ranges counted at 25), aslpro `<video_id>.swf` (FLV1 video, and a vector one), and
    an instance whose video never downloaded."""
    videos = root / "raw_videos"
    yt = write_indexed(videos / f"{YT_RAW}.mp4", range(90), "30")  # 3 s
    swf = write_indexed(videos / "65001.swf", range(30), "30", FLV1_SWF)
    vector = write_vector_swf(videos / "65002.swf")
    url = f"https://www.youtube.com/watch?v={YT_RAW}"
    short = f"https://youtu.be/{YT_RAW}"
    aslpro = "http://www.aslpro.com/main/b/book.swf"
    instances = {
        "00101": ("train", 1, 25, url, {}),  # [0, 1 s) → frames 0..29
        "00102": ("train", 26, 50, short, {"instance_id": 1}),  # [1 s, 2 s) → 30..59
        "00103": ("val", 51, -1, url, {"instance_id": 2}),  # [2 s, end) → 60..89
        "00104": ("test", 60, 100, url, {"instance_id": 3}),  # runs past the end: clamped
        "00105": ("test", 80, 90, url, {"instance_id": 4}),  # starts after the last frame
    }
    book = []
    expected = {}
    for vid, (split, s, e, u, extra) in instances.items():
        book.append(_wlasl_instance(vid, split, s, e, u, "youtube", **extra))
        expected[vid] = by_stated_rate(yt, s, e, 25)
    book.append(_wlasl_instance("65001", "train", 1, -1, aslpro, "aslpro", instance_id=5))
    expected["65001"] = by_stated_rate(swf, 1, -1, 25)
    drink = [
        _wlasl_instance("65002", "train", 1, -1, aslpro, "aslpro"),
        _wlasl_instance(
            "00201",
            "val",
            1,
            40,
            "https://www.youtube.com/watch?v=NoSuchVid01",
            "youtube",
            instance_id=1,
        ),  # fmt: skip
    ]
    expected["65002"] = Expected(error="no_video_stream")
    expected["00201"] = Expected(error="missing_file")
    manifest = _write_wlasl(root, [("book", book), ("drink", drink)])
    files = {p.name: p for p in (yt.path, swf.path, vector)}
    return Layout(manifest, videos, expected, files)


def build_wlasl_processed(root: Path) -> Layout:
    """What WLASL's start_kit/preprocess.py writes: `videos/<video_id>.mp4`; a YouTube instance
    with a range is already cut (its native frames frame_start-1 … frame_end-1, at 25 fps)."""
    videos = root / "videos"
    cut = write_indexed(videos / "00301.mp4", range(10, 40), "25")  # native frames 11..40
    other = write_indexed(videos / "00302.mp4", range(60), "30")  # non-YouTube, whole file
    uncut = write_indexed(videos / "00303.mp4", range(60), "30")  # YouTube, frame_end -1: copied
    short = write_indexed(videos / "00304.mp4", range(30), "30")  # 1 s
    yt = f"https://www.youtube.com/watch?v={YT_RAW}"
    web = "https://www.signingsavvy.com/media/mp4-ld/1/1.mp4"
    hello = [
        _wlasl_instance("00301", "train", 11, 40, yt, "youtube"),
        _wlasl_instance("00302", "train", 26, 50, web, "signingsavvy", instance_id=1),
        _wlasl_instance("00303", "val", 13, -1, yt, "youtube", instance_id=2),
        _wlasl_instance("00304", "val", 51, 60, web, "signingsavvy", instance_id=3),
    ]
    expected = {
        "00301": whole(cut),  # not cut a second time
        "00302": by_stated_rate(other, 26, 50, 25),  # [1 s, 2 s) → 30..59
        "00303": by_stated_rate(uncut, 13, -1, 25),  # [0.48 s, end) → 15..59
        "00304": Expected(error="range_past_end"),  # starts at 2 s, the file ends before 1 s
    }
    manifest = _write_wlasl(root, [("hello", hello)])
    files = {v.path.name: v.path for v in (cut, other, uncut, short)}
    return Layout(manifest, videos, expected, files)


# --------------------------------------------------------------------------- MS-ASL
MSASL_CLASSES = ["hello", "nice", "teacher", "eat"]


def _msasl_entry(start_time: str, end_time: str, label: int, signer: int, url: str) -> str:
    # Written as text so the numbers stay as the release writes them (29.97, 1.5015).
    return (
        f'{{"org_text": "{MSASL_CLASSES[label]}", "clean_text": "{MSASL_CLASSES[label]}", '
        f'"start_time": {start_time}, "signer_id": {signer}, "signer": {signer}, '
        f'"start": 0, "end": 0, "file": "x", "label": {label}, "height": 64, "fps": 29.97, '
        f'"end_time": {end_time}, "url": "{url}", "text": "{MSASL_CLASSES[label]}", '
        f'"box": [0.1, 0.2, 0.9, 0.8], "width": 96}}'
    )


def build_msasl(root: Path) -> Layout:
    """The MS-ASL folder: several windows on one shared 29.97-fps video, urls without a scheme,
    a window past the end and a video that never downloaded; videos in a separate folder."""
    folder = root / "MS-ASL"
    folder.mkdir(parents=True)
    videos = root / "msasl_videos"
    video = write_indexed(videos / f"{YT_MSASL}.mp4", range(90), "30000/1001")  # ~3 s
    url = f"www.youtube.com/watch?v={YT_MSASL}"
    windows = {  # clip_id: (split, start, end, label, signer)
        "train_00000": ("train", "0.0", "1.0", 0, 7),
        "train_00001": ("train", "1.0", "2.002", 0, 7),  # same video, gloss and signer
        "train_00002": ("train", "0.5005", "1.5015", 1, 3),
        "val_00000": ("val", "2.5", "4.0", 2, 3),  # runs past the end: clamped
        "test_00000": ("test", "10", "11.5", 1, 9),  # starts after the last frame
        "test_00001": ("test", "0.25", "0.26", 3, 9),  # shorter than a frame interval
    }
    per_split: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    expected = {}
    for clip_id, (split, s, e, label, signer) in windows.items():
        per_split[split].append(_msasl_entry(s, e, label, signer, url))
        expected[clip_id] = by_window(video, Fraction(s), Fraction(e))
    gone = "https://www.youtube.com/watch?v=gone_gone_1"
    per_split["test"].append(_msasl_entry("1", "2", 3, 9, gone))
    expected["test_00002"] = Expected(error="missing_file")
    for split, entries in per_split.items():
        (folder / f"MSASL_{split}.json").write_text("[" + ",\n".join(entries) + "]")
    (folder / "MSASL_classes.json").write_text(json.dumps(MSASL_CLASSES))
    return Layout(folder, videos, expected, {video.path.name: video.path})


# --------------------------------------------------------------------------- ASL Citizen
def build_asl_citizen(root: Path) -> Layout:
    """The ASL_Citizen folder: splits/*.csv and videos/ (a space in a file name, a slash in a
    gloss, a gloss only in test.csv); every video is one whole clip."""
    folder = root / "ASL_Citizen"
    rows = {  # file: (split, participant, gloss, frames)
        "11-HELLO.mp4": ("train", "P1", "HELLO", 24),
        "12 seed GO_LEAVE.mp4": ("train", "P12", "GO/LEAVE", 30),
        "13-HELLO.mp4": ("val", "P3", "HELLO", 20),
        "14-THANKYOU.mp4": ("test", "P4", "THANKYOU", 26),
    }
    expected, files = {}, {}
    lines = {s: ["Participant ID,Video file,Gloss,ASL-LEX Code"] for s in ("train", "val", "test")}
    for i, (name, (split, who, gloss, n)) in enumerate(rows.items()):
        video = write_indexed(folder / "videos" / name, range(n), "30")
        lines[split].append(f"{who},{name},{gloss},A_01_{i:03d}")
        expected[name] = whole(video)
        files[name] = video.path
    (folder / "splits").mkdir()
    for split, text in lines.items():
        (folder / "splits" / f"{split}.csv").write_text("\n".join(text) + "\n", encoding="utf-8")
    return Layout(folder, None, expected, files)


# --------------------------------------------------------------------------- AUTSL
AUTSL_CLASSES = "ClassId,TR,EN\n0,abla,sister\n1,acele,hurry\n2,çay,tea\n"


def build_autsl(root: Path) -> Layout:
    """The AUTSL folder: {train,val,test}/signer<N>_sample<M>_{color,depth}.mp4, the three label
    files without a header and the class list; depth videos are not clips."""
    folder = root / "AUTSL"
    samples = {  # sample: (folder, class id, frames)
        "signer0_sample1": ("train", 0, 24),
        "signer0_sample2": ("train", 2, 30),
        "signer5_sample1": ("val", 1, 20),
        "signer9_sample4": ("test", 2, 22),
    }
    expected, files = {}, {}
    labels = {"train": [], "val": [], "test": []}
    for sample, (split, class_id, n) in samples.items():
        color = write_indexed(folder / split / f"{sample}_color.mp4", range(n), "30")
        depth = write_indexed(folder / split / f"{sample}_depth.mp4", range(n, 2 * n), "30")
        labels[split].append(f"{sample},{class_id}")
        expected[sample] = whole(color)
        files[color.path.name] = color.path
        files[depth.path.name] = depth.path
    names = {"train": "train_labels.csv", "val": "validation_labels.csv", "test": "test_labels.csv"}
    for split, name in names.items():
        (folder / name).write_text("\n".join(labels[split]) + "\n")
    (folder / "SignList_ClassId_TR_EN.csv").write_text(AUTSL_CLASSES, encoding="utf-8")
    return Layout(folder, None, expected, files)


# --------------------------------------------------------------------------- CSV
def build_csv(root: Path) -> Layout:
    """A CSV without a video_id column: each record must still name its file (the stem)."""
    video = write_indexed(root / "clips" / "signer 2" / "hello_take1.mp4", range(60), "30")
    (root / "clips.csv").write_text(
        "path,label,split,frame_start,frame_end\n"
        "clips/signer 2/hello_take1.mp4,hello,train,,\n"
        "clips/signer 2/hello_take1.mp4,hello,val,31,60\n",
        encoding="utf-8",
    )
    expected = {
        "clips/signer 2/hello_take1.mp4": whole(video),
        "clips/signer 2/hello_take1.mp4#31-60": Expected(frames=_sample(video, 30, 59, NUM_FRAMES)),
    }
    return Layout(root / "clips.csv", None, expected, {video.path.name: video.path})
