"""Real H.264 files with seeded bit flips in their frame data, and what the decoder makes of them.

Used by test_damage.py, and run as a script for the long survey of issue 18:

    python -m tests.preprocess.bitflip --seeds=100 [--threads=0]

For each seed every clip of every window is decoded from the clean file and from the damaged
copy, together (one pass, decode_clips) and alone; a clip must be refused with a reason or be
byte for byte the clean file's clip. A differing clip is told apart by whether ffmpeg's own CLI
reports anything at all about the damaged file (`-v debug`: errors, concealment, corrupt frames).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import random
import re
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

from preprocess.video import decoder, sampling
from tests.preprocess import video_corpus as corpus

SIZE = "160x120"
SECONDS = 6  # 150 frames at 25 fps
# x264 on one thread: the same bytes on every machine, so a seed flips the same bits everywhere.
_X264 = ("-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
         "-threads", "1")  # fmt: skip
# One GOP over the whole file (keyint 250 > 150 frames), B-frames in a pyramid: damage anywhere
# reaches every later frame.
LONG_GOP = "keyint=250:min-keyint=250:bframes=3:b-pyramid=normal:log=-1"
# A key frame every 25 frames (no scene cuts): damage stops at the next one.
GOP_25 = "keyint=25:min-keyint=25:scenecut=0:bframes=3:b-pyramid=normal:log=-1"

WINDOWS = (
    sampling.Window.by_frames(),  # the whole file
    sampling.Window.by_frames(60, 120),
    sampling.Window.by_frames(101, 150),  # in the GOP_25 file: starts on the key frame 100
)


def write_h264(folder: Path, name: str, x264_params: str) -> Path:
    """A moving test picture (ffmpeg's testsrc2) encoded by libx264 into an MP4."""
    path = folder / name
    subprocess.run(
        [corpus.ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-f", "lavfi",
         "-i", f"testsrc2=size={SIZE}:rate=25", "-t", str(SECONDS), *_X264,
         "-x264-params", x264_params, str(path)],
        check=True, capture_output=True,
    )  # fmt: skip
    return path


def mdat_payload(data: bytes) -> tuple[int, int]:
    """[start, end) of the top-level mdat box's payload: the frames, away from the moov index."""
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[pos + 8 : pos + 16])[0], 16
        if kind == b"mdat":
            return pos + header, pos + size
        if size < header:
            break
        pos += size
    raise ValueError("no mdat box")


def flip_bits(data: bytes, seed: int) -> tuple[bytes, list[tuple[int, int]]]:
    """1 to 3 bits flipped inside mdat; the (byte offset, bit) of each."""
    rng = random.Random(seed)
    start, end = mdat_payload(data)
    flips = []
    for _ in range(rng.randint(1, 3)):
        flips.append((rng.randrange(start, end), rng.randrange(8)))
    return apply_flips(data, flips), flips


def apply_flips(data: bytes, flips) -> bytes:
    out = bytearray(data)
    for offset, bit in flips:
        out[offset] ^= 1 << bit
    return bytes(out)


_FFMPEG_REPORT = re.compile(r"error|conceal|corrupt|invalid|illegal|fail|missing", re.I)
_FFMPEG_CLEAN = re.compile(r"\b0 decode errors|Input stream #")


def ffmpeg_reports(path: Path, frames: int) -> list[str]:
    """What ffmpeg's CLI says about damage decoding the file's first `frames` frames (`-v debug`;
    it also decodes the few packets after them that its B-frame reordering reads ahead)."""
    done = subprocess.run(
        [corpus.ffmpeg_exe(), "-nostdin", "-v", "debug", "-i", str(path), "-frames:v",
         str(frames), "-f", "null", "-"],
        capture_output=True,
    )  # fmt: skip
    lines = done.stderr.decode("utf-8", "replace").splitlines()
    return [x for x in lines if _FFMPEG_REPORT.search(x) and not _FFMPEG_CLEAN.search(x)]


def requests(num_frames: int = 20, size: int = 150) -> list[decoder.ClipRequest]:
    return [decoder.ClipRequest(w, num_frames, size) for w in WINDOWS]


def outcome(result) -> tuple:
    """What a clip's result is, comparable across decodes (the frames as bytes)."""
    if isinstance(result, decoder.DecodeError):
        return ("error", result.reason, result.detail, tuple(sorted(result.info.items())))
    return ("ok", result.frame_indices, result.num_source_frames, result.frames.tobytes())


@dataclasses.dataclass
class Verdict:
    seed: int
    flips: list
    window: str
    request: decoder.ClipRequest
    want: tuple  # the clean file's outcome
    kind: str  # accepted-identical, failed, accepted-different
    last: int  # the clip's last sampled frame
    reason: str = ""
    detail: str = ""
    shared_equals_alone: bool = True


def judge(clean: Path, damaged: Path, seed: int, flips, threads: int = 0) -> list[Verdict]:
    """Each window's clip from the damaged file against the clean file's."""
    reqs = requests()
    reference = [outcome(r) for r in decoder.decode_clips(str(clean), reqs, threads)]
    together = decoder.decode_clips(str(damaged), reqs, threads)
    verdicts = []
    for request, want, got in zip(reqs, reference, together):
        alone = outcome(decoder.decode_clips(str(damaged), [request], threads)[0])
        got = outcome(got)
        last = want[1][-1] if want[0] == "ok" else -1
        verdict = Verdict(seed, flips, request.window.describe(), request, want, "", last,
                          shared_equals_alone=(got == alone))  # fmt: skip
        if got[0] == "error":
            verdict.kind, verdict.reason, verdict.detail = "failed", got[1], got[2]
        elif got == want:
            verdict.kind = "accepted-identical"
        else:
            verdict.kind = "accepted-different"
        verdicts.append(verdict)
    return verdicts


def silent_flip(data: bytes, verdict: Verdict, path: Path) -> bool:
    """Whether one of the seed's flips alone makes the clip differ while ffmpeg's CLI reports
    nothing decoding up to the clip's last frame: damage no decoder could have told."""
    for flip in verdict.flips:
        path.write_bytes(apply_flips(data, [flip]))
        alone = outcome(decoder.decode_clips(str(path), [verdict.request])[0])
        if (
            alone[0] == "ok"
            and alone != verdict.want
            and not ffmpeg_reports(path, verdict.last + 1)
        ):
            return True
    return False


def survey(seeds: int, threads: int, folder: Path) -> dict:
    files = {
        "long_gop": write_h264(folder, "long_gop.mp4", LONG_GOP),
        "gop25": write_h264(folder, "gop25.mp4", GOP_25),
    }
    report = {}
    for name, clean in files.items():
        counts: collections.Counter = collections.Counter()
        data = clean.read_bytes()
        for seed in range(seeds):
            damaged_bytes, flips = flip_bits(data, seed)
            damaged = folder / f"{name}_seed{seed}.mp4"
            damaged.write_bytes(damaged_bytes)
            verdicts = judge(clean, damaged, seed, flips, threads)
            for v in verdicts:
                key = v.kind if v.kind != "failed" else f"failed:{v.reason}"
                if v.kind == "accepted-different":
                    silent = silent_flip(data, v, folder / "single.mp4")
                    key += " (ffmpeg silent)" if silent else " (ffmpeg reports damage)"
                    print(f"{name} seed {seed} {v.window}: {key}, flips {flips}")
                if not v.shared_equals_alone:
                    key += " SHARED!=ALONE"
                    print(f"{name} seed {seed} {v.window}: shared pass differs from alone")
                counts[key] += 1
            damaged.unlink()
        report[name] = dict(sorted(counts.items()))
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        report = survey(args.seeds, args.threads, Path(folder))
    for name, counts in report.items():
        print(f"{name}: {args.seeds} seeds x {len(WINDOWS)} windows, threads={args.threads}")
        for key, n in counts.items():
            print(f"  {n:4d}  {key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
