"""dataset.json and labels.txt: write, read back, and refuse what does not match the contract."""

import fnmatch
import json

import pytest

from schemas import dataset_info, layout
from schemas.dataset_info import DatasetInfo
from schemas.features import SCHEMA_VERSION, ClipSchema


def _info():
    return DatasetInfo(
        clip=ClipSchema(num_frames=8, size=32, frame_encoding="png"),
        compression="GZIP",
        splits={"train": {"examples": 10, "shards": 2, "failures": 1}},
        num_labels=3,
        num_failures=1,
        command_line=["python -m preprocess", "--manifest=x.json"],
        package_version="0.1.0",
    )


def test_round_trip(tmp_path):
    dataset_info.write_dataset_info(str(tmp_path), _info())
    back = dataset_info.read_dataset_info(str(tmp_path))
    assert back == _info()
    assert not list(tmp_path.glob(".*tmp")), "the temporary file must be renamed away"


def test_other_schema_version_is_refused_naming_the_file(tmp_path):
    data = _info().to_json()
    data["schema_version"] = SCHEMA_VERSION + 1
    (tmp_path / "dataset.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"dataset.json: schema_version 3 is not supported"):
        dataset_info.read_dataset_info(str(tmp_path))


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("num_frames", "20", "field 'num_frames' must be int"),
        ("size", True, "field 'size' must be int"),
        ("frame_encoding", "gif", "frame_encoding must be one of"),
        ("compression", "ZLIB", "compression must be"),
        ("splits", [], "field 'splits' must be dict"),
    ],
)
def test_bad_fields_are_refused(tmp_path, field, value, message):
    data = _info().to_json()
    data[field] = value
    (tmp_path / "dataset.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match=message):
        dataset_info.read_dataset_info(str(tmp_path))


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset.json not found"):
        dataset_info.read_dataset_info(str(tmp_path))
    (tmp_path / "dataset.json").write_text("{not json")
    with pytest.raises(ValueError, match="dataset.json: not valid JSON"):
        dataset_info.read_dataset_info(str(tmp_path))


def test_labels_round_trip_keeps_order_and_unicode(tmp_path):
    glosses = ["book", "drink", "computer", "über", "手话"]
    dataset_info.write_labels(str(tmp_path), glosses)
    assert dataset_info.read_labels(str(tmp_path)) == glosses


@pytest.mark.parametrize("glosses", [["a", "a"], ["a", "b\nc"], ["", "b"]])
def test_labels_refuse_what_would_break_one_gloss_per_line(tmp_path, glosses):
    with pytest.raises(ValueError):
        dataset_info.write_labels(str(tmp_path), glosses)


def test_decoder_crop_and_shard_lengths_round_trip_and_are_optional(tmp_path):
    import dataclasses

    info = dataclasses.replace(_info(), decoder="decord", crop="bbox",
                               shard_lengths={"train": [5, 5]})  # fmt: skip
    dataset_info.write_dataset_info(str(tmp_path), info)
    assert dataset_info.read_dataset_info(str(tmp_path)) == info
    older = info.to_json()
    for key in ("decoder", "crop", "shard_lengths"):
        del older[key]  # a dataset.json written before they were recorded
    (tmp_path / "dataset.json").write_text(json.dumps(older))
    back = dataset_info.read_dataset_info(str(tmp_path))
    assert (back.decoder, back.crop, back.shard_lengths) == ("", "", {})


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("crop", "square", "crop must be one of"),
        ("shard_lengths", [3], "shard_lengths must be an object"),
        ("shard_lengths", {"train": [3, -1]}, r"shard_lengths\['train'\] must be a list"),
    ],
)
def test_bad_new_fields_are_refused_naming_the_file(tmp_path, field, value, message):
    data = _info().to_json()
    data[field] = value
    (tmp_path / "dataset.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="dataset.json: " + message):
        dataset_info.read_dataset_info(str(tmp_path))


def test_shard_names():
    assert layout.shard_name("train", 3, 12) == "train-00003-of-00012.tfrecord"
    assert layout.shard_name("val", 0, 1, "GZIP") == "val-00000-of-00001.tfrecord.gz"


def test_layout_names_shards_and_side_files():
    assert layout.shard_split("test-00000-of-00004.tfrecord") == "test"
    assert layout.shard_split("my-val-00001-of-00002.tfrecord.gz") == "my-val"
    assert layout.shard_split("labels.txt") is None
    gzip = layout.shard_pattern("val", "GZIP")
    assert fnmatch.fnmatch(layout.shard_name("val", 1, 3, "GZIP"), gzip)
    assert not fnmatch.fnmatch(layout.shard_name("val", 1, 3), gzip)
    markers = (layout.STARTED_JSON, layout.FAILED_JSON, layout.RECORDS_DIR, layout.STAGED_CLIPS)
    for name in (*layout.METADATA_FILES, *markers, "label.labels.txt"):
        assert layout.is_side_file(name) and layout.is_run_file(name), name
    assert layout.is_run_file("train-00000-of-00001.tfrecord")
    assert not layout.is_side_file("train-00000-of-00001.tfrecord")
    assert not layout.is_run_file("notes.md")
    assert layout.join("gs://b/x/", "a.json") == "gs://b/x/a.json"
    assert layout.join("/", "a.json") == "/a.json" and layout.join("", "a.json") == "a.json"


def test_label_difference_names_the_first_gloss_that_differs():
    label_difference = dataset_info.label_difference
    assert label_difference(["a", "b", "c"], ["a", "c", "b"]) == "line 2: 'b' vs 'c'"
    assert label_difference(["a", "b"], ["a", "b", "c"]) == (
        "2 vs 3 glosses, the first 2 agree; line 3: 'c'"
    )
    assert label_difference(["a"], ["a"]) == ""
