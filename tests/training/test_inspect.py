"""`python -m training.inspect`: counts, contract checks on every record, a contact sheet PNG."""

import os
import re

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from schemas.features import ClipMeta, ClipSchema
from tests.training.shards import write_shards
from training import inspect


@pytest.fixture
def folder(tmp_path):
    data = str(tmp_path / "data")
    write_shards(data, num_examples=6, num_labels=3, split="train", num_shards=2)
    write_shards(data, num_examples=3, num_labels=3, split="val", num_shards=1, seed=1)
    return data


def test_counts_per_split_and_label_and_a_clean_bill(folder, capsys):
    assert inspect.main([folder]) == 0
    out = capsys.readouterr().out
    assert "train: 6 records" in out and "val: 3 records" in out
    assert re.search(r"train: 6 records\n\s+gloss0\s+2\n\s+gloss1\s+2\n\s+gloss2\s+2\n", out)
    assert "every record matches the contract" in out


def test_contact_sheet_has_a_row_per_clip(folder, tmp_path, capsys):
    png = str(tmp_path / "not_made_yet" / "sheet.png")  # the folder is made
    assert inspect.main([folder, f"--contact_sheet={png}", "--max_clips=4", "--thumb=32"]) == 0
    image = Image.open(png)
    report = inspect.inspect_dataset(folder, max_samples=4)
    assert len(report.samples) == 4
    rows = image.height // (32 + 14 + 8)
    assert rows == 4 and image.width > 4 * 32
    # The first frame of the first clip is on the sheet, at its place (nearest-neighbour scale).
    frame = np.asarray(image.convert("RGB"))[4 : 4 + 32, 190 : 190 + 32]
    expected = np.asarray(Image.fromarray(report.samples[0].frames[0]).resize((32, 32), 0))
    np.testing.assert_array_equal(frame, expected)


def _append_record(folder, split, meta, schema):
    """Rewrites the split's single shard with one more record (and leaves dataset.json stale)."""
    (path,) = tf.io.gfile.glob(os.path.join(folder, f"{split}-*"))
    records = list(tf.data.TFRecordDataset(path).as_numpy_iterator())
    frames = np.zeros(schema.frame_shape, np.uint8)
    with tf.io.TFRecordWriter(path) as w:
        for r in records + [schema.encode(frames, meta)]:
            w.write(r)
    return path


def test_every_broken_promise_is_reported_naming_shard_and_record(folder, capsys):
    schema = ClipSchema(num_frames=4, size=48)
    meta = ClipMeta(label=1, gloss="gloss2", frame_indices=(0, 5, 3, 9), num_source_frames=8,
                    split="train")  # fmt: skip
    path = _append_record(folder, "val", meta, schema)
    assert inspect.main([folder]) == 1
    out = capsys.readouterr().out
    assert f"{path}: record 3: gloss 'gloss2' but labels.txt line 1 is 'gloss1'" in out
    assert f"{path}: record 3: split 'train' in a 'val' shard" in out
    assert "frame_indices [0, 5, 3, 9] are not in order" in out
    assert "outside [0, 8) decoded frames" in out
    assert "val has 4 records, dataset.json says 3" in out


def test_per_shard_counts_are_checked_against_dataset_json(folder, capsys):
    from schemas.dataset_info import read_dataset_info, write_dataset_info

    info = read_dataset_info(folder)
    info.shard_lengths = {"train": [3, 3], "val": [3]}  # as the shards hold them
    write_dataset_info(folder, info)
    assert inspect.main([folder]) == 0
    info.shard_lengths["train"] = [4, 2]  # the same total, dealt otherwise
    write_dataset_info(folder, info)
    assert inspect.main([folder]) == 1
    assert "train shards hold [3, 3] records, dataset.json's shard_lengths says [4, 2]" in (
        capsys.readouterr().out
    )


def test_records_of_another_clip_shape_are_named(folder, capsys):
    path = _append_record(
        folder, "val", ClipMeta(label=0, gloss="gloss0", frame_indices=(0, 1), num_source_frames=2,
                                split="val"), ClipSchema(num_frames=2, size=48),
    )  # fmt: skip
    assert inspect.main([folder]) == 1
    assert f"{path}: record 3: does not match dataset.json's clip format" in capsys.readouterr().out


def test_a_damaged_shard_and_a_missing_folder_are_reported(folder, tmp_path, capsys):
    (path,) = tf.io.gfile.glob(os.path.join(folder, "val-*"))
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])
    assert inspect.main([folder]) == 1
    assert f"{path}: damaged after 1 readable records" in capsys.readouterr().out
    assert inspect.main([str(tmp_path / "nothing")]) == 2
    assert "dataset.json not found" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--max_clips=0", "--thumb=4", "--colors=1000"])
def test_bad_flags(folder, flag, capsys):
    with pytest.raises(SystemExit) as e:
        inspect.main([folder, flag])
    assert e.value.code == 2 and flag.split("=")[0] in capsys.readouterr().err


def test_command_prints_the_report_only_and_help_skips_tensorflow(folder):
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    result = subprocess.run(
        [sys.executable, "-m", "training.inspect", folder],
        capture_output=True, text=True, cwd=repo, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "every record matches the contract" in result.stdout
    assert result.stderr == "", result.stderr[-2000:]  # no TensorFlow start-up lines
    code = (
        "import sys; from training.inspect import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('TF', 'tensorflow' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=repo, timeout=120
    )
    assert "--contact_sheet" in result.stdout and result.stdout.strip().endswith("TF False")
