"""TFRecord files without TensorFlow, byte for byte what `tf.io.TFRecordWriter` writes.

The preprocess job no longer imports TensorFlow: its import was 2.5 s of a 15 s job, and it was
only there to build Examples (schemas/example_proto.py) and to write the shards. A TFRecord is
TensorFlow's documented framing: the length as a little-endian uint64, the masked CRC-32C of
those 8 bytes, the data, the masked CRC-32C of the data. Uncompressed output is the same bytes
as TensorFlow's (tests/schemas/test_tfrecord_writer.py), so shards stay byte-identical run to
run and with shards written before this module existed (docs/design.md, "Output folder").

GZIP output is one gzip stream over all the framed records, made with TensorFlow's zlib settings
(window bits 31, memory level 9, default level and strategy, one Z_FINISH at the end); the tests
check that TensorFlow reads it back and that it is TensorFlow's bytes. It is written out as it
is compressed, so memory stays bounded whatever the shard's size.

CRC-32C comes from google-crc32c (the CPU's CRC instruction, about 16 GB/s here); crcmod's C
extension, which Beam uses, ran at 0.3 GB/s and cost 0.5 ms per 160 KB record at the end of a job.
"""

from __future__ import annotations

import struct
import zlib
from types import TracebackType
from typing import BinaryIO

import google_crc32c

COMPRESSIONS = ("", "GZIP")

_MASK_DELTA = 0xA282EAD8
_GZIP_WBITS = 31  # 16 (gzip wrapper) + 15 (32 KB window), as TensorFlow's ZlibCompressionOptions
_GZIP_MEM_LEVEL = 9


def _masked_crc32c(data: bytes) -> int:
    """CRC-32C rotated and offset, as TFRecord stores it (a CRC of data holding CRCs is weak)."""
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def _frame(record: bytes) -> tuple[bytes, bytes]:
    """The 12-byte header (length, its masked CRC) and 4-byte footer (the data's masked CRC)."""
    length = struct.pack("<Q", len(record))
    header = length + struct.pack("<I", _masked_crc32c(length))
    return header, struct.pack("<I", _masked_crc32c(record))


class TFRecordWriter:
    """Writes TFRecords to a binary file object opened for writing; closing it closes the file.

    `compression` is "" or "GZIP", as tf.io.TFRecordOptions spells them.
    """

    def __init__(self, fileobj: BinaryIO, compression: str = "") -> None:
        if compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {COMPRESSIONS!r}, got {compression!r}")
        self._file = fileobj
        self._compressor = _gzip_compressor() if compression == "GZIP" else None
        self._closed = False

    def write(self, record: bytes) -> None:
        """Appends one record."""
        if self._closed:
            raise ValueError("write to a closed TFRecordWriter")
        header, footer = _frame(record)
        for part in (header, record, footer):
            self._put(part)

    def close(self) -> None:
        """Finishes the compressed stream, if any, and closes the file. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._compressor is not None:
                self._file.write(self._compressor.flush(zlib.Z_FINISH))
        finally:
            self._file.close()

    def __enter__(self) -> TFRecordWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _put(self, data: bytes) -> None:
        if self._compressor is None:
            self._file.write(data)
            return
        compressed = self._compressor.compress(data)
        if compressed:
            self._file.write(compressed)


def _gzip_compressor():  # a zlib.Compress, a type zlib does not export
    """TensorFlow's ZlibCompressionOptions::GZIP(): default level and strategy."""
    return zlib.compressobj(
        level=zlib.Z_DEFAULT_COMPRESSION,
        method=zlib.DEFLATED,
        wbits=_GZIP_WBITS,
        memLevel=_GZIP_MEM_LEVEL,
    )
