"""write_atomic: a file is there whole or not at all, whatever was written before."""

import pytest

from schemas import fileio


def test_write_atomic_writes_text_bytes_and_chunks_and_leaves_no_temporary_file(tmp_path):
    fileio.write_atomic(str(tmp_path / "a.json"), "{}\n")
    fileio.write_atomic(str(tmp_path / "b.bin"), b"\x00\xff")
    fileio.write_atomic(str(tmp_path / "c.jsonl"), (f"{i}\n" for i in range(3)))
    fileio.write_atomic(str(tmp_path / "d.jsonl"), iter(()))
    assert (tmp_path / "a.json").read_text() == "{}\n"
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\xff"
    assert (tmp_path / "c.jsonl").read_text() == "0\n1\n2\n"
    assert (tmp_path / "d.jsonl").read_text() == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.bin", "c.jsonl", "d.jsonl"]


def test_a_write_that_fails_midway_leaves_the_earlier_file_whole(tmp_path):
    path = tmp_path / "dataset.json"
    fileio.write_atomic(str(path), "old\n")

    def chunks():
        yield "new, half"
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        fileio.write_atomic(str(path), chunks())
    assert path.read_text() == "old\n"
