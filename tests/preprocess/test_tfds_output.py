"""Every output folder is also a TFDS dataset: `tfds.builder_from_directory(OUT)` reads what our
own parser reads."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from preprocess import cli
from preprocess.summary import summarize
from preprocess.synthetic import SyntheticConfig, make_dataset
from schemas import dataset_info, features, layout


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("tfds_data")
    manifest = make_dataset(
        str(root), SyntheticConfig(num_classes=2, clips_per_class=7, width=32, height=32, seed=11)
    )
    return manifest, str(root / "videos")


def _run(data, out, *extra):
    manifest, videos = data
    return cli.run([f"--manifest={manifest}", f"--video_dir={videos}", f"--output_dir={out}",
                    "--direct_running_mode=in_memory", *extra])  # fmt: skip


def _ours(out, split):
    info = dataset_info.read_dataset_info(str(out))
    files = sorted(tf.io.gfile.glob(str(out / layout.shard_pattern(split))))
    ds = tf.data.TFRecordDataset(files).map(lambda r: info.clip.parse(r, float_frames=False))
    return list(ds.as_numpy_iterator())


def _same(theirs, ours):
    assert len(theirs) == len(ours) > 0
    for a, b in zip(theirs, ours):
        assert set(a) == set(b)
        for key in b:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.fixture(scope="module")
def jpeg_out(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("tfds") / "out"
    _run(data, out, "--num_shards=2")
    return out


def test_builder_from_directory_reads_our_shards(jpeg_out):
    builder = tfds.builder_from_directory(str(jpeg_out))
    info = dataset_info.read_dataset_info(str(jpeg_out))
    labels = dataset_info.read_labels(str(jpeg_out))
    assert builder.info.features[features.LABEL].names == labels
    for split, entry in info.splits.items():
        assert builder.info.splits[split].num_examples == entry["examples"]
        assert builder.info.splits[split].num_shards == entry["shards"] == 2
    theirs = list(tfds.as_numpy(builder.as_dataset(split="train")))
    assert theirs[0][features.FRAMES].dtype == np.uint8
    assert theirs[0][features.FRAMES].shape == (20, 150, 150, 3)
    _same(theirs, _ours(jpeg_out, "train"))
    first = list(tfds.as_numpy(builder.as_dataset(split="train[:10%]")))
    assert len(first) == round(info.splits["train"]["examples"] / 10) >= 1
    _same(first, _ours(jpeg_out, "train")[: len(first)])
    report = json.loads((jpeg_out / "coverage.json").read_text())
    summary = summarize(str(jpeg_out), info.to_json(), report)
    assert f"TFDS: tfds.builder_from_directory('{jpeg_out}')" in summary
    hidden = sorted(n for n in os.listdir(jpeg_out) if n.startswith("."))
    # The lock file stays (preprocess/output_lock.py); staged and temporary files are gone.
    assert hidden == [".preprocess-started.json", ".preprocess.lock"]


def test_our_trainer_still_reads_the_folder_with_tfds_files_beside_the_shards(jpeg_out):
    from training import shard_source

    assert (jpeg_out / "features.json").exists() and (jpeg_out / "label.labels.txt").exists()
    splits = dataset_info.read_dataset_info(str(jpeg_out)).splits
    total = sum(entry["examples"] for entry in splits.values())
    assert shard_source.open_source(f"{jpeg_out}/*").num_examples == total


def test_raw_frames_read_the_same_and_gzip_gets_no_tfds_metadata(data, tmp_path):
    out = tmp_path / "out"
    small = ["--splits=val", "--size=24", "--num_frames=5"]
    _run(data, out, "--frame_encoding=raw", *small)
    theirs = list(tfds.as_numpy(tfds.builder_from_directory(str(out)).as_dataset(split="val")))
    assert theirs[0][features.FRAMES].shape == (5, 24, 24, 3)
    _same(theirs, _ours(out, "val"))
    # GZIP over the same folder: --overwrite removes TFDS's files too, and none are written.
    info = _run(data, out, "--compression=gzip", "--overwrite", *small)
    for name in ("features.json", "dataset_info.json", "label.labels.txt"):
        assert not (out / name).exists(), name
    summary = summarize(str(out), info, json.loads((out / "coverage.json").read_text()))
    assert "TFDS: no metadata written: TFDS cannot read GZIP TFRecord shards" in summary
