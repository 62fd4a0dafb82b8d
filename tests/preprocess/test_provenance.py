"""Issue-10 guarantees end to end: exact source frames per cut rule, provenance in every record,
range_past_end never a record, the failed-run gate, coverage.json, version-1 shards still read."""

import json
import os
from fractions import Fraction

import numpy as np
import pytest
import tensorflow as tf

from preprocess import cli, outcome
from preprocess.video import sampling
from schemas import dataset_info, features, layout
from schemas.features import ClipSchema
from tests.preprocess import video_corpus as corpus

SCHEMA = ClipSchema(num_frames=6, size=48)
ARGS = ["--num_frames=6", "--size=48", "--direct_running_mode=in_memory", "--direct_num_workers=1"]
HEADER = "path,label,split,frame_start,frame_end,fps,signer_id\n"
ROWS = [
    # 25-fps frame numbers on a 30-fps file: the window [0.2 s, 0.6 s).
    "a.mp4,hello,train,6,15,25,1",
    # The file's own frames 40..200 of 60: clamped at the end, and said so.
    "a.mp4,hello,val,40,200,,1",
    # [3.96 s, 4.8 s) on a 1.2 s file: no frame belongs to it.
    "b.mp4,bye,train,100,120,25,2",
    "b.mp4,bye,test,,,,3",
]


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    corpus.write_video(corpus.Spec("a.mp4", corpus.H264_B, num_frames=60, rate="30"), folder)
    corpus.write_video(corpus.Spec("b.mp4", corpus.H264, num_frames=30, rate="25"), folder)
    return folder


def _manifest(folder, rows=ROWS):
    path = folder / "clips.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n")
    return path


def _records(out):
    records = {}
    for split in ("train", "val", "test"):
        pattern = os.path.join(out, layout.shard_pattern(split))
        for f in sorted(tf.io.gfile.glob(pattern)):
            for r in tf.data.TFRecordDataset(f).map(lambda r: SCHEMA.parse(r, float_frames=False)):
                records[r[features.CLIP_ID].numpy().decode()] = {k: v.numpy() for k, v in r.items()}
    return records


def _shown(record):
    return [corpus.read_index(frame) for frame in record[features.FRAMES]]


@pytest.fixture(scope="module")
def run(videos, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out"
    manifest = _manifest(videos)
    code = cli.main([f"--manifest={manifest}", f"--output_dir={out}", *ARGS])
    return code, out


def test_every_record_holds_exactly_the_frames_its_rule_names(run):
    code, out = run
    assert code == 0
    records = _records(str(out))
    stated = records["a.mp4#6-15"]
    times = [Fraction(i, 30) for i in range(60)]
    expected = sampling.sample_indices(*sampling.frame_range_by_time(times, 6, 15, 25), 6)
    assert tuple(stated[features.FRAME_INDICES]) == expected == (6, 8, 10, 13, 15, 17)
    assert _shown(stated) == list(expected)
    assert stated[features.CUT] == features.CUT_STATED_RATE.encode()
    assert (stated[features.CUT_FIRST], stated[features.CUT_LAST]) == (6, 17)
    assert stated[features.WINDOW_START] == pytest.approx(0.2)
    assert stated[features.WINDOW_END] == pytest.approx(0.6)
    assert stated[features.CLAMPED] == 0

    clamped = records["a.mp4#40-200"]
    assert _shown(clamped) == list(sampling.sample_indices(39, 59, 6))
    assert clamped[features.CLAMPED] == 1 and clamped[features.CUT] == b"frames"
    assert clamped[features.WINDOW_START] == -1.0

    whole = records["b.mp4"]
    assert _shown(whole) == list(sampling.sample_indices(0, 29, 6))


def test_records_trace_back_to_their_file(run):
    _, out = run
    records = _records(str(out))
    for clip_id, record in records.items():
        assert record[features.PATH].decode() == clip_id.split("#")[0]  # as the CSV names it
        assert record[features.VIDEO_ID].decode() == clip_id.split(".")[0]  # the file's stem


def test_a_range_past_the_end_is_an_error_row_with_its_numbers_never_a_record(run):
    _, out = run
    assert "b.mp4#100-120" not in _records(str(out))
    (row,) = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert row["reason"] == "range_past_end" and row["clip_id"] == "b.mp4#100-120"
    assert row["window_start_s"] == pytest.approx(3.96) and row["window_end_s"] == 4.8
    assert row["num_decoded_frames"] == 30 and row["duration_s"] == pytest.approx(1.2)
    assert row["manifest_path"] == "b.mp4" and row["video_id"] == "b"


def test_dataset_json_counts_cut_rules_and_clamped_clips(run):
    _, out = run
    info = dataset_info.read_dataset_info(str(out))
    assert info.schema_version == 2
    assert info.cuts == {"stated_rate": 1, "frames": 2}
    assert info.num_clamped == 1 and info.manifest_format == "csv"


def test_coverage_report_names_unlearnable_glosses_and_shared_signers(run):
    _, out = run
    report = json.loads((out / "coverage.json").read_text())
    assert report["splits"]["train"] == {
        "in_manifest": 2, "written": 1, "failed": {"range_past_end": 1}, "lost": 0,
    }  # fmt: skip
    assert report["glosses_without_training_clips"] == ["bye"]
    assert report["glosses_missing_from"] == {"val": ["bye"], "test": ["hello"]}
    assert report["signers_in_several_splits"] == {"1": {"train": 1, "val": 1}}
    assert report["glosses"]["bye"]["test"]["written"] == 1


def test_a_run_that_wrote_nothing_fails_and_the_corrected_command_just_runs(
    videos, tmp_path, capsys
):
    manifest = _manifest(videos)
    out = tmp_path / "out"
    wrong = [f"--manifest={manifest}", f"--video_dir={tmp_path}", f"--output_dir={out}", *ARGS]
    assert cli.main(wrong) == 1
    captured = capsys.readouterr()
    assert "missing_file=" in captured.out  # the summary still prints
    assert "no clip of split 'train' was written" in captured.err
    assert not (out / "dataset.json").exists() and (out / outcome.FAILED_JSON).exists()
    rows = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert {row["reason"] for row in rows} == {"missing_file"}
    # The corrected command reuses the folder without --overwrite.
    right = [f"--manifest={manifest}", f"--output_dir={out}", *ARGS]
    assert cli.main(right) == 0
    assert (out / "dataset.json").exists() and not (out / outcome.FAILED_JSON).exists()


def test_max_failed_fraction_makes_the_gate_stricter(videos, tmp_path, capsys):
    manifest = _manifest(videos)
    out = tmp_path / "out"
    argv = [f"--manifest={manifest}", f"--output_dir={out}", *ARGS]
    assert cli.main([*argv, "--max_failed_fraction=0.2"]) == 1
    assert "1 of 4 clips failed (25.0%), over --max_failed_fraction=0.2" in capsys.readouterr().err
    assert not (out / "dataset.json").exists()
    assert cli.main([*argv, "--max_failed_fraction=0.25"]) == 0


def test_version_1_records_still_parse(run, tmp_path):
    """A shard written before schema version 2 reads with '' / -1 for the provenance keys."""
    _, out = run
    (shard,) = tf.io.gfile.glob(os.path.join(str(out), layout.shard_pattern("test")))
    example = tf.train.Example.FromString(next(iter(tf.data.TFRecordDataset(shard))).numpy())
    version_2 = set(SCHEMA.parse_spec()) - set(_version_1_keys())
    for key in version_2:
        del example.features.feature[key]
    assert set(example.features.feature) == set(_version_1_keys())
    parsed = SCHEMA.parse(tf.constant(example.SerializeToString()), float_frames=False)
    assert parsed[features.CLIP_ID].numpy() == b"" and parsed[features.CUT_FIRST].numpy() == -1
    assert parsed[features.VIDEO_ID].numpy() == b"b"
    assert np.asarray(parsed[features.FRAMES]).shape == (6, 48, 48, 3)


def _version_1_keys():
    return (
        features.FRAMES, features.FRAME_INDICES, features.LABEL, features.GLOSS,
        features.VIDEO_ID, features.SPLIT, features.SOURCE, features.INSTANCE_ID,
        features.SIGNER_ID, features.FRAME_START, features.FRAME_END, features.NUM_SOURCE_FRAMES,
    )  # fmt: skip


def test_inspect_shows_the_coverage_table(run):
    from training import inspect

    _, out = run
    text = inspect.format_report(inspect.inspect_dataset(str(out)))
    assert "coverage (coverage.json):" in text
    assert "glosses with no training clip: 1 of 2" in text
    assert "signers in more than one split: 1" in text
