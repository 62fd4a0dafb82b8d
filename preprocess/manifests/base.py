"""What every manifest reader returns: `Manifest` (glosses + clips), `Clip`, `ManifestError`."""

from __future__ import annotations

import dataclasses
import fractions

SPLITS = ("train", "val", "test")

# The readers, as `--manifest_format` names them (docs/design.md, "Dataset layouts").
FORMATS = ("wlasl", "csv", "folder", "msasl", "asl_citizen", "autsl")

# Order matters: when several files share a video_id stem, the earliest extension wins.
VIDEO_EXTENSIONS = (
    ".mp4",
    ".mov",
    ".mkv",
    ".webm",
    ".avi",
    ".m4v",
    ".flv",
    ".mpg",
    ".mpeg",
    ".ts",
    ".m2ts",
    ".mts",
    ".vob",
    ".wmv",
    ".3gp",
    ".ogv",
    ".swf",
)

# Beyond this an int64 feature or a frame count is nonsense; refusing early beats an overflow later.
MAX_INT = 2**62


class ManifestError(ValueError):
    """A manifest that cannot be read as written; the message names file, row, field and value."""


@dataclasses.dataclass(frozen=True)
class Clip:
    """One record to be: a video file and a frame range of it, with its label and metadata."""

    clip_id: str
    path: str
    gloss: str
    label: int
    split: str = "train"
    frame_start: int = 1
    frame_end: int = -1
    fps: fractions.Fraction | None = None
    video_id: str = ""
    source: str = ""
    instance_id: int = -1
    signer_id: int = -1
    bbox: tuple[int, int, int, int] | None = None
    # Provenance and the cutting rule (docs/design.md, "Sampling rule"). `cut` is one of
    # schemas.features.CUT_RULES; '' picks the rule from `fps` (stated_rate if set, else frames).
    cut: str = ""
    start_time: fractions.Fraction | None = None  # time_window: [start_time, end_time) seconds
    end_time: fractions.Fraction | None = None
    rel_path: str = ""  # the video as the manifest names it (relative to video_dir/manifest)
    layout: str = ""  # WLASL: 'processed' or 'raw' (which folder layout found the file)
    url: str = ""  # where the video came from, as the manifest says (WLASL, MS-ASL)
    # Set when the reader found no file: every path it looked for. The pipeline then records the
    # clip as missing_file naming them (the manifest itself stays valid: videos go missing).
    tried: tuple[str, ...] = ()

    def __post_init__(self):
        from schemas.features import CUT_FRAMES, CUT_RULES, CUT_STATED_RATE, CUT_TIME_WINDOW

        if not self.cut:
            rule = CUT_STATED_RATE if self.fps is not None else CUT_FRAMES
            object.__setattr__(self, "cut", rule)
        if self.cut not in CUT_RULES:
            raise ValueError(f"cut must be one of {CUT_RULES}, got {self.cut!r}")
        if self.cut == CUT_STATED_RATE and self.fps is None:
            raise ValueError(f"{self.clip_id}: cut {CUT_STATED_RATE!r} needs fps")
        if self.cut == CUT_TIME_WINDOW and self.start_time is None:
            raise ValueError(f"{self.clip_id}: cut {CUT_TIME_WINDOW!r} needs start_time")


@dataclasses.dataclass(frozen=True)
class Manifest:
    """Glosses in label order and clips in manifest order."""

    glosses: tuple[str, ...]
    clips: tuple[Clip, ...]
    format: str = ""  # the reader that made it: one of FORMATS

    @property
    def overlap(self) -> dict:
        """Videos shared between splits ({path: {split: clips}}) and the clip ids of each window
        that is a clip in several splits, as coverage.json reports them. WLASL and MS-ASL cut
        several clips from one YouTube video, in any split: a reader cannot refuse that."""
        from schemas import coverage

        return coverage.overlap(self.clips)
