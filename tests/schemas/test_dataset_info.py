"""dataset.json and labels.txt: write, read back, and refuse what does not match the contract."""

import json

import pytest

from schemas import dataset_info
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


def test_shard_names():
    assert dataset_info.shard_name("train", 3, 12) == "train-00003-of-00012.tfrecord"
    assert dataset_info.shard_name("val", 0, 1, "GZIP") == "val-00000-of-00001.tfrecord.gz"


def test_label_difference_names_the_first_gloss_that_differs():
    label_difference = dataset_info.label_difference
    assert label_difference(["a", "b", "c"], ["a", "c", "b"]) == "line 2: 'b' vs 'c'"
    assert label_difference(["a", "b"], ["a", "b", "c"]) == (
        "2 vs 3 glosses, the first 2 agree; line 3: 'c'"
    )
    assert label_difference(["a"], ["a"]) == ""
