"""The clip list as a file the job reads, so the submitted job graph does not grow with the dataset.

`beam.Create(clips)` pickles every clip into the pipeline proto: about 30 KB per 1,000 clips,
and Dataflow refuses a job graph over 10 MB (a few hundred thousand clips). The launcher instead
writes the validated clips as JSON lines (one `{"index": i, "clip": {...}}` per clip, `index` being
the manifest position that orders the output) next to the output, and the job reads them with
`ReadFromText`, which also splits a large file between workers.

Clips are written field by field over `dataclasses.fields(Clip)`, so a field added to Clip needs
no change here: Fractions travel as "n/d" strings and tuples as lists, and the field's type hint
turns them back.
"""

from __future__ import annotations

import dataclasses
import fractions
import json
import types
import typing
from typing import Iterable

import apache_beam as beam

from preprocess import manifests
from schemas import fileio, layout


@dataclasses.dataclass(frozen=True)
class StagedClips:
    """Where the clip list was staged, and what the launcher learnt while writing it."""

    path: str
    count: int
    splits: tuple[str, ...]  # sorted


def _encode(value):
    """json.dumps's hook for what JSON lacks (tuples already become lists)."""
    if isinstance(value, fractions.Fraction):
        return f"{value.numerator}/{value.denominator}"
    raise TypeError(f"cannot stage a {type(value).__name__} in a Clip field: {value!r}")


def _field_types() -> dict[str, typing.Any]:
    return typing.get_type_hints(manifests.Clip)


def _decode(value, hint):
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = options[0] if len(options) == 1 else typing.Any
        origin = typing.get_origin(hint)
    if hint is fractions.Fraction:
        return fractions.Fraction(value)
    if origin is tuple:
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        inner = args[0] if len(set(args)) == 1 else typing.Any
        return tuple(_decode(v, inner) for v in value)
    return value


def clip_to_json(index: int, clip: manifests.Clip, names: tuple[str, ...] | None = None) -> str:
    names = names or tuple(f.name for f in dataclasses.fields(clip))
    fields = {n: getattr(clip, n) for n in names}
    return json.dumps({"index": index, "clip": fields}, default=_encode)


def clip_from_json(line: str, hints: dict | None = None) -> tuple[int, manifests.Clip]:
    data = json.loads(line)
    hints = hints or _field_types()
    names = {f.name for f in dataclasses.fields(manifests.Clip)}
    fields = {
        k: _decode(v, hints.get(k, typing.Any)) for k, v in data["clip"].items() if k in names
    }
    return int(data["index"]), manifests.Clip(**fields)


def stage_clips(clips: Iterable[manifests.Clip], path: str) -> StagedClips:
    """Writes the clips in manifest order, whole or not at all (`fileio.write_atomic`)."""
    folder = path.rsplit("/", 1)[0] if "/" in path else "."
    fileio.makedirs(folder)
    names = tuple(f.name for f in dataclasses.fields(manifests.Clip))
    splits, count = set(), 0

    def chunks():
        nonlocal count
        chunk = []
        for count, clip in enumerate(clips, start=1):
            chunk.append(clip_to_json(count - 1, clip, names))
            splits.add(clip.split)
            if len(chunk) == 4096:  # one write per chunk: a write per line costs as much as JSON
                yield "\n".join(chunk) + "\n"
                chunk = []
        if chunk:
            yield "\n".join(chunk) + "\n"

    fileio.write_atomic(path, chunks())
    return StagedClips(path=path, count=count, splits=tuple(sorted(splits)))


def staged_path(output_dir: str) -> str:
    return layout.join(output_dir, layout.STAGED_CLIPS)


def remove(staged: StagedClips) -> None:
    if fileio.exists(staged.path):
        fileio.remove(staged.path)


class _ParseClip(beam.DoFn):
    def setup(self):
        self._hints = _field_types()

    def process(self, line):
        if line.strip():
            yield clip_from_json(line, self._hints)


class ReadStagedClips(beam.PTransform):
    """The staged file → (index, Clip) in no particular order."""

    def __init__(self, path: str):
        super().__init__()
        self._path = path

    def expand(self, pbegin):
        return (
            pbegin
            | "Read" >> beam.io.ReadFromText(self._path)
            | "Parse" >> beam.ParDo(_ParseClip())
        )
