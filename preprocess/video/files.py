"""Is the path a file with bytes to read? Asked before anything opens it, by every decoder and
by training.predict, so a file gets the same reason wherever it is decoded."""

from __future__ import annotations

import errno
import io
import os
import stat

from preprocess.video.messages import DecodeError
from schemas import fileio, reasons


def open_binary(path: str) -> io.RawIOBase:
    """The file as a seekable binary file object, to use in a `with` block (schemas.fileio:
    gs:// through tf.io.gfile, so a local decode never pays TensorFlow's import)."""
    return fileio.open_file(path, "rb")


def check_file(path: str) -> int:
    """The file's size in bytes; DecodeError if it is not a regular file with bytes to read.

    Every decoder and training.predict call this first, so a file gets the same reason in a
    preprocess run and in predict. A local path is looked at with stat() and opened without
    blocking: opening a FIFO would wait for a writer forever (a decoding child's timeout).
    """
    if fileio.is_remote(path):
        try:
            if not fileio.exists(path):
                raise DecodeError(path, reasons.MISSING_FILE, "no such file")
            if fileio.isdir(path):
                raise DecodeError(path, reasons.UNREADABLE_FILE, "is a folder")
            size = fileio.size(path)
        except fileio.error_types() as e:
            raise DecodeError(path, reasons.UNREADABLE_FILE, str(e)) from e
        if size == 0:
            raise DecodeError(path, reasons.EMPTY_FILE, "0 bytes")
        return size
    try:
        info = os.stat(path)
    except OSError as e:
        raise _stat_error(path, e) from e
    if stat.S_ISDIR(info.st_mode):
        raise DecodeError(path, reasons.UNREADABLE_FILE, "is a folder")
    if not stat.S_ISREG(info.st_mode):
        raise DecodeError(path, reasons.NOT_A_REGULAR_FILE, f"is {_file_kind(info.st_mode)}")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise _stat_error(path, e) from e
    try:
        info = os.fstat(fd)  # what was opened, should the path have changed since the stat
        if not stat.S_ISREG(info.st_mode):
            raise DecodeError(path, reasons.NOT_A_REGULAR_FILE, f"is {_file_kind(info.st_mode)}")
        if info.st_size == 0:
            # /proc and /sys files say 0 bytes and yet hold some: no video, and no size to trust.
            if os.read(fd, 1):
                raise DecodeError(
                    path,
                    reasons.NOT_A_REGULAR_FILE,
                    "says it has 0 bytes but has some (/proc or /sys?)",
                )
            raise DecodeError(path, reasons.EMPTY_FILE, "0 bytes")
    except OSError as e:
        raise DecodeError(
            path, reasons.UNREADABLE_FILE, f"cannot read it: {e.strerror or e}"
        ) from e
    finally:
        os.close(fd)
    return info.st_size


def _stat_error(path: str, error: OSError) -> DecodeError:
    if error.errno == errno.ELOOP:
        return DecodeError(path, reasons.UNREADABLE_FILE, "symlink loop")
    if error.errno in (errno.ENOENT, errno.ENOTDIR):
        if os.path.islink(path):
            return DecodeError(
                path, reasons.MISSING_FILE, f"dangling symlink to {os.readlink(path)}"
            )
        return DecodeError(path, reasons.MISSING_FILE, "no such file")
    if error.errno in (errno.EACCES, errno.EPERM):
        return DecodeError(path, reasons.UNREADABLE_FILE, "permission denied")
    return DecodeError(path, reasons.UNREADABLE_FILE, error.strerror or str(error))


def _file_kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return f"not a regular file (mode {stat.S_IFMT(mode):o})"
