"""Shard source on real shards: listing, counts, dataset.json checks, first-record checks."""

import json
import os

import pytest

from schemas.layout import DATASET_JSON, LABELS_TXT
from tests.training.shards import write_shards
from training import shard_source as ss


def test_glob_matching_nothing_names_the_glob(tmp_path):
    write_shards(str(tmp_path), num_examples=2)
    with pytest.raises(FileNotFoundError, match="nothing-"):
        ss.list_shards(f"{tmp_path}/train-*,{tmp_path}/nothing-*")


def test_comma_separated_globs_and_metadata_files_skipped(data_dir):
    files = ss.list_shards(f"{data_dir}/*, {data_dir}/train-*")
    assert [os.path.basename(f) for f in files] == [
        "train-00000-of-00002.tfrecord",
        "train-00001-of-00002.tfrecord",
        "val-00000-of-00001.tfrecord",
    ]


def test_counts_come_from_dataset_json_or_from_reading(data_dir):
    assert ss.open_source(f"{data_dir}/train-*").num_examples == 24
    assert ss.open_source(f"{data_dir}/train-00001-*").num_examples == 12
    assert ss.open_source(f"{data_dir}/*").num_examples == 33


def test_part_of_a_split_is_counted_from_dataset_json_shard_lengths(tmp_path):
    """A folder whose dataset.json records each shard's records is never read to be counted."""
    from schemas.dataset_info import read_dataset_info, write_dataset_info

    folder = str(tmp_path)
    write_shards(folder, num_examples=12, split="train", num_shards=2)
    info = read_dataset_info(folder)
    info.shard_lengths = {"train": [5, 7]}  # not what the shards hold (6 each): proves the source
    write_dataset_info(folder, info)
    assert ss.open_source(f"{folder}/train-00001-*").num_examples == 7
    assert ss.open_source(f"{folder}/train-*").num_examples == 12


def test_missing_dataset_json_names_the_file(tmp_path):
    write_shards(str(tmp_path), num_examples=2, write_info=False)
    with pytest.raises(FileNotFoundError, match=str(tmp_path / DATASET_JSON)):
        ss.open_source(f"{tmp_path}/train-*")


def test_other_schema_version_names_the_file(tmp_path):
    write_shards(str(tmp_path), num_examples=2)
    path = tmp_path / DATASET_JSON
    data = json.loads(path.read_text())
    data["schema_version"] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=f"{path}.*schema_version 99"):
        ss.open_source(f"{tmp_path}/train-*")


def test_labels_txt_must_match_num_labels(tmp_path):
    write_shards(str(tmp_path), num_examples=2, num_labels=3)
    (tmp_path / LABELS_TXT).write_text("a\nb\n")
    with pytest.raises(ValueError, match="labels.txt has 2 glosses.*num_labels=3"):
        ss.open_source(f"{tmp_path}/train-*")


def test_clip_shape_other_than_dataset_json_fails_naming_the_shard(tmp_path):
    write_shards(str(tmp_path), num_examples=2, size=50, write_info=False)
    write_shards(str(tmp_path / "info"), num_examples=2, size=48)  # a dataset.json saying 48
    for name in (DATASET_JSON, LABELS_TXT):
        os.replace(tmp_path / "info" / name, tmp_path / name)
    source = ss.open_source(f"{tmp_path}/train-*")
    with pytest.raises(ValueError, match=r"train-00000-of-00002.tfrecord.*\(4, 48, 48, 3\)"):
        ss.check_shards(source)


def test_first_record_label_out_of_range_fails_before_training(tmp_path):
    write_shards(str(tmp_path), num_examples=2, num_labels=3, labels=[3, 0], num_shards=1)
    with pytest.raises(ValueError, match=r"train-00000-of-00001.tfrecord: label 3 .*\[0, 3\)"):
        ss.check_shards(ss.open_source(f"{tmp_path}/train-*"))


@pytest.mark.parametrize(
    "other, difference",
    [
        (dict(compression="GZIP"), "compression 'GZIP' vs ''"),
        (dict(frame_encoding="png"), "clip format ClipSchema.*png.* vs ClipSchema.*jpeg"),
        (dict(size=50), r"clips \(4, 50, 50, 3\) vs \(4, 48, 48, 3\)"),
        (dict(num_labels=4), "4 classes vs 3 .*line 4: 'gloss3'"),
    ],
)
def test_folders_of_one_glob_must_hold_one_format(tmp_path, other, difference):
    """One reader parses every shard of a source: one clip format, compression and labels.txt."""
    write_shards(str(tmp_path / "a"), num_examples=2)
    write_shards(str(tmp_path / "b"), num_examples=2, **other)
    mismatch = f"the shards in {tmp_path}/b do not match the shards in {tmp_path}/a: {difference}"
    with pytest.raises(ValueError, match=mismatch):
        ss.open_source(f"{tmp_path}/a/train-*,{tmp_path}/b/train-*")


def test_check_same_data_compares_what_a_model_takes_unless_told_more(tmp_path):
    """Runs and their evaluation shards must agree on frame shape and glosses only."""
    write_shards(str(tmp_path / "a"), num_examples=2)
    write_shards(str(tmp_path / "b"), num_examples=2, frame_encoding="png", compression="GZIP")
    a, b = ss.open_source(f"{tmp_path}/a/train-*"), ss.open_source(f"{tmp_path}/b/train-*")
    ss.check_same_data(b.format, a.format)
    with pytest.raises(ValueError, match="clip format .*; compression 'GZIP' vs ''. Why$"):
        ss.check_same_data(b.format, a.format, clip_format=True, compression=True, advice="Why")
    renamed = ss.DataFormat("the run in RUN", a.info, ("x", *a.labels[1:]))
    with pytest.raises(ValueError, match="do not match the run in RUN: labels.txt lists other "
                       "glosses \\(line 1: 'gloss0' vs 'x'\\)"):  # fmt: skip
        ss.check_same_data(a.format, renamed)
