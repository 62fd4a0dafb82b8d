"""schemas.tfrecord_writer writes exactly tf.io.TFRecordWriter's bytes, plain and GZIP, and
importing it never loads TensorFlow (schemas/tfrecord_writer.py says why both matter)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf

from schemas import tfrecord_writer
from tests.tf_free import loads_tensorflow

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _record_sets() -> dict[str, list[bytes]]:
    rng = np.random.default_rng(0)
    return {
        "none": [],
        "empty-record": [b""],
        "one-1MB": [rng.bytes(1 << 20)],
        "500-small": [rng.bytes(int(n)) for n in rng.integers(0, 300, 500)],
        # Compressible, as JPEG headers and repeated strings are: deflate finds matches.
        "repetitive": [b"frame" * 20_000, b"", bytes(range(256)) * 500],
    }


RECORD_SETS = _record_sets()


def _write_ours(path, records, compression):
    with tfrecord_writer.TFRecordWriter(open(path, "wb"), compression) as writer:
        for record in records:
            writer.write(record)
    with open(path, "rb") as f:
        return f.read()


def _write_tensorflows(path, records, compression):
    options = tf.io.TFRecordOptions(compression_type=compression)
    with tf.io.TFRecordWriter(str(path), options) as writer:
        for record in records:
            writer.write(record)
    with open(path, "rb") as f:
        return f.read()


@pytest.mark.parametrize("compression", tfrecord_writer.COMPRESSIONS)
@pytest.mark.parametrize("name", RECORD_SETS)
def test_same_bytes_as_tensorflow(tmp_path, name, compression):
    """Shards must not change with the writer: GZIP too, since deflate with TensorFlow's zlib
    settings and one final Z_FINISH is deterministic whatever size the input comes in."""
    records = RECORD_SETS[name]
    ours = _write_ours(tmp_path / "ours", records, compression)
    theirs = _write_tensorflows(tmp_path / "theirs", records, compression)
    assert ours == theirs


@pytest.mark.parametrize("compression", tfrecord_writer.COMPRESSIONS)
@pytest.mark.parametrize("name", RECORD_SETS)
def test_tensorflow_reads_the_records_back(tmp_path, name, compression):
    records = RECORD_SETS[name]
    path = tmp_path / "shard"
    _write_ours(path, records, compression)
    dataset = tf.data.TFRecordDataset(str(path), compression_type=compression)
    assert [record.numpy() for record in dataset] == records


def test_gzip_output_is_written_as_it_is_compressed(tmp_path):
    """A shard is hundreds of MB: compressed bytes must reach the file before close."""
    rng = np.random.default_rng(1)
    fileobj = open(tmp_path / "shard.gz", "wb")
    with tfrecord_writer.TFRecordWriter(fileobj, "GZIP") as writer:
        for _ in range(4):
            writer.write(rng.bytes(1 << 20))
        assert fileobj.tell() > 3 << 20
    assert fileobj.closed


def test_close_closes_the_file_once_and_refuses_more_records(tmp_path):
    fileobj = open(tmp_path / "shard", "wb")
    writer = tfrecord_writer.TFRecordWriter(fileobj)
    writer.close()
    writer.close()
    assert fileobj.closed
    with pytest.raises(ValueError):
        writer.write(b"late")


@pytest.mark.parametrize("compression", ["ZLIB", "gzip", "none", None])
def test_an_unknown_compression_is_refused(tmp_path, compression):
    """Only what the job's --compression accepts; 'none' is the flag's spelling, not TF's."""
    with open(tmp_path / "shard", "wb") as fileobj:
        with pytest.raises(ValueError, match="'GZIP'"):
            tfrecord_writer.TFRecordWriter(fileobj, compression)


def test_importing_it_imports_no_tensorflow(tmp_path):
    """The preprocess job writes its shards with this module so that it never loads TF."""
    code = (
        "from schemas import tfrecord_writer\n"
        f"with tfrecord_writer.TFRecordWriter(open({str(tmp_path / 's')!r}, 'wb'), 'GZIP') as w:\n"
        "    w.write(b'x')\n"
    )
    assert not loads_tensorflow(code)
