"""WLASL JSON (`WLASL_v0.3.json`) → Manifest, finding each instance's video in either layout.

The file is a list of `{"gloss": str, "instances": [{...}]}`. Per instance `video_id` (str),
`split`, `frame_start`, `frame_end` (JSON integers) are required; `fps` (number, the rate WLASL's
frame numbers are counted at: 25), `signer_id`, `instance_id` (integers), `source`, `url` (str) and
`bbox` (4 integers x0, y0, x1, y1) are optional (missing or null = unknown); other keys
(`variation_id`, …) are ignored. Rows are named like `entry 3 (gloss "book"), instance 2`, 0-based
as in `data[3]["instances"][2]`. Labels follow entry order, so WLASL100/300/1000/2000 are
`top_k_glosses=100/300/1000/2000`. Glosses are read in Unicode NFC. A gloss given twice, a
`video_id` given twice anywhere, or an `instance_id` given twice within a gloss is refused. Raw
instances share their YouTube video, in any split, at the same frames too (35 whole videos are
in two splits in v0.3): reported by `Manifest.overlap`, not refused.

Videos (docs/design.md, "Dataset layouts"), decided per instance; `video_dir` is listed
once, extensions from VIDEO_EXTENSIONS compared in lower case (`.mp4` first when stems collide):
- `<video_dir>/<video_id>.<ext>` (layout 'processed': what WLASL's `start_kit/preprocess.py`
  writes, and also how its downloader names non-YouTube sources, aslpro ones as `.swf`). A
  YouTube instance (url names youtube.com or youtu.be) with `frame_end != -1` was already cut by
  that script: the whole file is the clip (cut `whole_file`). Otherwise the range applies by the
  stated-rate rule at `fps` (by the file's own frame numbers when `fps` is absent).
- else, for a YouTube instance, `<video_dir>/<YouTube id>.<ext>` (layout 'raw': the downloaded
  video, shared by every instance cut from it; the id is the 11 characters after `v=` or
  `youtu.be/`, else the url's last 11 as WLASL's own scripts take it); the range applies as above.
- else the clip keeps the path `<video_dir>/<video_id>.mp4` and `tried` names the stems looked for
  (`<stem>.*`: any extension above); the pipeline records it as `missing_file`.
"""

from __future__ import annotations

from preprocess.manifests import reading, video_paths
from preprocess.manifests import validation as v
from preprocess.manifests.base import Clip, Manifest, ManifestError
from schemas.layout import join

FORMAT = "wlasl"


def read_wlasl_json(path: str, video_dir: str | None) -> Manifest:
    """WLASL_v0.3.json-style file → Manifest; lists `video_dir` once to find each video's file."""
    if video_dir is None or video_dir == "":
        raise ManifestError(
            f"{path}: a WLASL JSON manifest needs video_dir, the folder holding the "
            "<video_id>.mp4 files"
        )
    data = reading.load_json(path, "a JSON list of gloss entries")
    if not isinstance(data, list):
        raise ManifestError(
            f"{path}: top level is a JSON {v.json_type(data)}, expected a list of "
            '{"gloss": ..., "instances": [...]} entries'
        )
    video_dir = video_paths.norm_dir(video_dir)
    files = video_paths.list_videos_by_stem(video_dir, path)
    glosses: list[str] = []
    gloss_where: dict[str, int] = {}
    spellings: dict = {}
    id_where: dict[str, str] = {}
    clips: list[Clip] = []
    for e, entry in enumerate(data):
        gloss, instances = _entry(path, e, entry, gloss_where, spellings)
        label = len(glosses)
        glosses.append(gloss)
        where = f"entry {e} (gloss {v.quote(gloss)})"
        instance_where: dict[int, int] = {}
        for i, inst in enumerate(instances):
            iwhere = f"{where}, instance {i}"
            clip = _clip(path, iwhere, inst, gloss, label, video_dir, files)
            _check_unique(path, iwhere, i, clip, id_where, instance_where)
            clips.append(clip)
    if not clips:
        raise ManifestError(f"{path}: no instances at all, expected at least one clip")
    return Manifest(glosses=tuple(glosses), clips=tuple(clips), format=FORMAT)


def _entry(path, e, entry, gloss_where, spellings) -> tuple[str, list]:
    where = f"entry {e}"
    if not isinstance(entry, dict):
        raise ManifestError(
            f"{path}: {where}: is a JSON {v.json_type(entry)}, expected an object "
            '{"gloss": ..., "instances": [...]}'
        )
    if "gloss" not in entry:
        raise ManifestError(f"{path}: {where}: field 'gloss' is missing, expected a string")
    gloss = v.check_gloss(path, where, "gloss", entry["gloss"], spellings)
    if gloss in gloss_where:
        raise ManifestError(
            f"{path}: {where}: field 'gloss' is {gloss!r}, already given by entry "
            f"{gloss_where[gloss]}; expected each gloss once"
        )
    gloss_where[gloss] = e
    where = f"entry {e} (gloss {v.quote(gloss)})"
    instances = entry.get("instances", v.MISSING)
    if instances is v.MISSING:
        raise ManifestError(f"{path}: {where}: field 'instances' is missing, expected a list")
    if not isinstance(instances, list):
        v.fail(path, where, "instances", instances, "a list of instance objects")
    return gloss, instances


def _check_unique(path, where, i, clip, id_where, instance_where) -> None:
    if clip.video_id in id_where:
        v.fail(
            path,
            where,
            "video_id",
            clip.video_id,
            f"a video_id used once (also at {id_where[clip.video_id]})",
        )
    id_where[clip.video_id] = where
    if clip.instance_id != -1:
        if clip.instance_id in instance_where:
            v.fail(
                path,
                where,
                "instance_id",
                clip.instance_id,
                f"an instance_id used once within the gloss (also at instance "
                f"{instance_where[clip.instance_id]})",
            )
        instance_where[clip.instance_id] = i


def _clip(path, where, inst, gloss, label, video_dir, files) -> Clip:
    if not isinstance(inst, dict):
        raise ManifestError(
            f"{path}: {where}: is a JSON {v.json_type(inst)}, expected an instance object"
        )

    def required(key):
        if key not in inst or inst[key] is None:
            raise ManifestError(f"{path}: {where}: field {key!r} is missing or null")
        return inst[key]

    video_id = v.check_video_id(path, where, required("video_id"))
    split = v.check_split(path, where, "split", required("split"))
    frame_start, frame_end = v.check_frames(
        path,
        where,
        v.json_int(path, where, "frame_start", required("frame_start")),
        v.json_int(path, where, "frame_end", required("frame_end")),
    )
    fps = inst.get("fps")
    if fps is not None:
        fps = v.json_fps(path, where, fps)
    bbox = inst.get("bbox")
    if bbox is not None:
        bbox = v.check_bbox(path, where, bbox)
    url = _text(path, where, inst, "url")
    found = _find_video(video_id, url, frame_end, video_dir, files)
    return Clip(
        clip_id=video_id,
        gloss=gloss,
        label=label,
        split=split,
        frame_start=frame_start,
        frame_end=frame_end,
        fps=fps,
        video_id=video_id,
        source=_text(path, where, inst, "source"),
        instance_id=v.optional_json_id(path, where, "instance_id", inst.get("instance_id")),
        signer_id=v.optional_json_id(path, where, "signer_id", inst.get("signer_id")),
        bbox=bbox,
        url=url,
        **found,
    )


def _text(path, where, inst, key) -> str:
    value = inst.get(key)
    if value is None:
        return ""
    if not isinstance(value, str) or v.has_control(value):
        v.fail(path, where, key, value, "a string without control characters")
    return value


def _find_video(video_id, url, frame_end, video_dir, files) -> dict:
    """The Clip fields the layout decides: path, rel_path, layout, cut, tried."""
    from schemas.features import CUT_WHOLE_FILE

    youtube = v.is_youtube(url)
    if video_id in files:
        name = files[video_id]
        # WLASL's preprocess.py cut YouTube instances with a range into <video_id>.mp4 already.
        cut = CUT_WHOLE_FILE if youtube and frame_end != -1 else ""
        return dict(path=join(video_dir, name), rel_path=name, layout="processed", cut=cut)
    yt_id = _youtube_id(url) if youtube else None
    if yt_id is not None and yt_id in files:
        name = files[yt_id]
        return dict(path=join(video_dir, name), rel_path=name, layout="raw")
    stems = [video_id] + ([yt_id] if yt_id is not None and yt_id != video_id else [])
    name = video_id + ".mp4"
    tried = tuple(join(video_dir, stem + ".*") for stem in stems)
    return dict(path=join(video_dir, name), rel_path=name, tried=tried)


def _youtube_id(url: str) -> str | None:
    """The id after `v=`/`youtu.be/`, else the url's last 11 characters, as WLASL's downloader
    and preprocess.py take it (`url[-11:]`, e.g. for `…/embed/<id>`)."""
    found = v.youtube_id(url)
    if found is None and v.YOUTUBE_ID_RE.fullmatch(url[-11:]):
        found = url[-11:]
    return found
