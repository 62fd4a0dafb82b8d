"""Each dataset release layout through the whole job: every record holds exactly the source
frames its rule names, every other clip is an errors.jsonl row with the expected reason.

The layouts (tests/preprocess/dataset_layouts.py) are built from real frame-indexed videos the
way each release or downloader leaves them; the job runs with only --manifest (and --video_dir
where the format needs it), as a new user would run it.
"""

import json
import os

import pytest
import tensorflow as tf

from preprocess import cli
from schemas import dataset_info, features
from schemas.features import ClipSchema
from tests.preprocess import dataset_layouts as layouts
from tests.preprocess import video_corpus as corpus

SIZE = 64  # the pattern reads back reliably at 64 px; 150 only costs time here
SCHEMA = ClipSchema(num_frames=layouts.NUM_FRAMES, size=SIZE)
FAST = [f"--size={SIZE}", "--direct_running_mode=in_memory", "--direct_num_workers=1"]

BUILDERS = {
    "wlasl_raw": (layouts.build_wlasl_raw, True),
    "wlasl_processed": (layouts.build_wlasl_processed, True),
    "msasl": (layouts.build_msasl, True),
    "asl_citizen": (layouts.build_asl_citizen, False),
    "autsl": (layouts.build_autsl, False),
    "csv": (layouts.build_csv, False),
}


def _run(layout, out, with_video_dir):
    argv = [f"--manifest={layout.manifest}", f"--output_dir={out}", *FAST]
    if with_video_dir:
        argv.append(f"--video_dir={layout.video_dir}")
    return cli.main(argv)


def _records(out):
    found = {}
    for f in sorted(tf.io.gfile.glob(os.path.join(out, "*.tfrecord"))):
        for r in tf.data.TFRecordDataset(f).map(lambda r: SCHEMA.parse(r, float_frames=False)):
            found[r[features.CLIP_ID].numpy().decode()] = {k: v.numpy() for k, v in r.items()}
    return found


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def built(request, tmp_path_factory):
    build, with_video_dir = BUILDERS[request.param]
    root = tmp_path_factory.mktemp(request.param)
    layout = build(root)
    out = root / "out"
    code = _run(layout, out, with_video_dir)
    return request.param, layout, out, code


def test_every_clip_gives_exactly_its_frames_or_its_reason(built):
    name, layout, out, code = built
    assert code == 0, name
    records = _records(str(out))
    rows = {
        row["clip_id"]: row
        for row in map(json.loads, (out / "errors.jsonl").read_text().splitlines())
    }
    assert set(records) | set(rows) == set(layout.expected), "every clip: a record or a row"
    assert not set(records) & set(rows)
    for clip_id, expected in layout.expected.items():
        if expected.error:
            assert clip_id not in records, f"{clip_id} must not be a record"
            row = rows[clip_id]
            assert row["reason"] == expected.error, (clip_id, row)
            if row["reason"] == "missing_file" and name != "csv":  # readers that look for files
                assert row["tried"] and all(t in row["detail"] for t in row["tried"])
            continue
        record = records[clip_id]
        shown = tuple(corpus.read_index(frame) for frame in record[features.FRAMES])
        assert shown == expected.frames, clip_id
        assert bool(record[features.CLAMPED]) == expected.clamped, clip_id
        assert record[features.PATH], clip_id


def test_provenance_names_the_rule_and_the_layout(built):
    name, layout, out, _ = built
    info = dataset_info.read_dataset_info(str(out))
    assert info.manifest_format == name.split("_")[0] if name.startswith("wlasl") else name
    records = _records(str(out))
    cuts = {r[features.CUT].decode() for r in records.values()}
    rules = {
        "wlasl_raw": {"stated_rate"},
        "wlasl_processed": {"whole_file", "stated_rate"},
        "msasl": {"time_window"},
        "asl_citizen": {"frames"},
        "autsl": {"frames"},
    }
    if name in rules:
        assert cuts == rules[name]
    if name == "wlasl_processed":
        assert records["00301"][features.CUT] == b"whole_file"
        assert records["00301"][features.LAYOUT] == b"processed"
        assert info.layouts == {"processed": len(records)}
    if name == "wlasl_raw":
        assert {r[features.LAYOUT] for k, r in records.items() if k.startswith("001")} == {b"raw"}
        assert info.layouts["raw"] == 4
    assert sum(info.cuts.values()) == len(records)
