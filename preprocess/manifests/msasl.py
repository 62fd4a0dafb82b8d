"""MS-ASL folder → Manifest: clips cut by time window from shared YouTube videos.

The release (Microsoft's MS-ASL) is a folder holding `MSASL_classes.json` (a JSON list of the 1000
class names; label = index, ordered so MS-ASL100/200/500/1000 are `top_k_glosses=100/…/1000`)
and `MSASL_train.json`, `MSASL_val.json`, `MSASL_test.json` (lists of entries; a split whose file
is absent has no clips). Per entry `url`, `start_time`, `end_time` (seconds) and `label` are
required; `fps` (the video's rate, fractional like 29.97), `signer_id` (integer) and `clean_text`
are optional; `start`, `end` (frame numbers at `fps`), `box`, `text`, `org_text`, `width`,
`height`, `file`, … are not used: the clip is the time window `[start_time, end_time)`, by the
display-time rule (docs/design.md, "Sampling rule"). Numbers are read exactly (decimal text →
Fraction). The gloss is the class name at `label` (`clean_text` may be a synonym of it), in
Unicode NFC.

Videos are `<video_dir>/<YouTube id>.<ext>` (the id after `v=` or `youtu.be/`; real urls often
have no scheme: `www.youtube.com/watch?v=…`); `video_dir` is required and listed once. Several
entries cut from one video share its file, in any split; each is a clip of its own, and
`Manifest.overlap` (coverage.json) lists the videos of several splits. `clip_id` is
`<split>_<entry index, 0-based, 5 digits>`, stable for a given release file. Rows are named
`MSASL_train.json: entry 12`.
"""

from __future__ import annotations

import fractions

from preprocess.manifests import reading, video_paths
from preprocess.manifests import validation as v
from preprocess.manifests.base import SPLITS, Clip, Manifest, ManifestError
from schemas import fileio
from schemas.layout import join

FORMAT = "msasl"
CLASSES = "MSASL_classes.json"


def split_file(split: str) -> str:
    return f"MSASL_{split}.json"


def read_msasl(root: str, video_dir: str | None) -> Manifest:
    """The MS-ASL folder → Manifest; every class of MSASL_classes.json is a label."""
    if not fileio.isdir(root):
        raise ManifestError(
            f"{root}: not a folder, expected the MS-ASL folder holding {CLASSES} and "
            f"{', '.join(split_file(s) for s in SPLITS)}"
        )
    root = video_paths.norm_dir(root)
    if not video_dir:
        raise ManifestError(
            f"{root}: an MS-ASL manifest needs video_dir, the folder holding the downloaded "
            "<YouTube id>.mp4 files"
        )
    glosses = _classes(join(root, CLASSES))
    present = [s for s in SPLITS if fileio.exists(join(root, split_file(s)))]
    if not present:
        raise ManifestError(
            f"{root}: no {', '.join(split_file(s) for s in SPLITS)} found, expected at least one"
        )
    video_dir = video_paths.norm_dir(video_dir)
    files = video_paths.list_videos_by_stem(video_dir, root)
    clips: list[Clip] = []
    for split in present:
        path = join(root, split_file(split))
        data = reading.load_json(path, "a JSON list of MS-ASL entries")
        if not isinstance(data, list):
            v.fail(path, "", "top level", data, "a JSON list of MS-ASL entries")
        for i, entry in enumerate(data):
            where = f"entry {i}"
            clips.append(_clip(path, where, entry, split, i, glosses, video_dir, files))
    if not clips:
        raise ManifestError(f"{root}: no entries in {present}, expected at least one clip")
    return Manifest(glosses=glosses, clips=tuple(clips), format=FORMAT)


def _classes(path: str) -> tuple[str, ...]:
    data = reading.load_json(path, "a JSON list of class names")
    if not isinstance(data, list) or not data:
        v.fail(path, "", "top level", data, "a non-empty JSON list of class names")
    seen: dict[str, int] = {}
    spellings: dict = {}
    for i, name in enumerate(data):
        gloss = v.check_gloss(path, f"class {i}", "name", name, spellings)
        if gloss in seen:
            v.fail(path, f"class {i}", "name", gloss, f"each class once (also class {seen[gloss]})")
        seen[gloss] = i
    return tuple(seen)


def _clip(path, where, entry, split, index, glosses, video_dir, files) -> Clip:
    from schemas.features import CUT_TIME_WINDOW

    if not isinstance(entry, dict):
        v.fail(path, where, "entry", entry, "a JSON object with url, start_time, end_time, label")

    def required(key):
        if key not in entry or entry[key] is None:
            raise ManifestError(f"{path}: {where}: field {key!r} is missing or null")
        return entry[key]

    url = required("url")
    if not isinstance(url, str) or v.youtube_id(url) is None:
        v.fail(path, where, "url", url, "a YouTube url with the video id after 'v=' or 'youtu.be/'")
    label = v.json_int(path, where, "label", required("label"))
    if not 0 <= label < len(glosses):
        v.fail(path, where, "label", label, f"a class index in [0, {len(glosses) - 1}]")
    start = _seconds(path, where, "start_time", required("start_time"))
    end = _seconds(path, where, "end_time", required("end_time"))
    if end <= start:
        v.fail(path, where, "end_time", entry["end_time"], f"a time after start_time ({start})")
    fps = entry.get("fps")
    yt_id = v.youtube_id(url)
    name = files.get(yt_id)
    tried = () if name else (join(video_dir, yt_id + ".*"),)
    name = name or yt_id + ".mp4"
    return Clip(
        clip_id=f"{split}_{index:05d}",
        path=join(video_dir, name),
        gloss=glosses[label],
        label=label,
        split=split,
        fps=None if fps is None else v.json_fps(path, where, fps),
        video_id=yt_id,
        source="youtube",
        signer_id=v.optional_json_id(path, where, "signer_id", entry.get("signer_id")),
        cut=CUT_TIME_WINDOW,
        start_time=start,
        end_time=end,
        rel_path=name,
        url=url,
        tried=tried,
    )


def _seconds(path, where, field, value) -> fractions.Fraction:
    return v.json_fraction(path, where, field, value, lambda s: 0 <= s <= v.MAX_INT,
                           "a number of seconds >= 0")  # fmt: skip
