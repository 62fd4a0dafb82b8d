"""One preprocess run per output folder: an advisory lock taken before anything is deleted.

Without it a second run into the same folder takes the first for a killed one (files, no
dataset.json), deletes its `.records/` under it, and both fail or, worse, one finishes with the
other's shards. The lock is flock(2) on a hidden file in the folder: the kernel drops it when its
holder exits however it exits (SIGKILL included), so a killed run never blocks the rerun, and
the pid written in the file names the holder in the refusal.

Object stores (gs://) have no such lock: a remote folder is not locked (docs/design.md, "Output
folder"); Dataflow jobs are named and listed by the service instead.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os

from schemas import fileio, layout


class FolderInUse(Exception):
    """Another live run holds the folder's lock."""


class OutputLock:
    """Held from `acquire` until `release` or the process's end."""

    def __init__(self, fd: int | None):
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None


def acquire(output_dir: str) -> OutputLock:
    """Locks output_dir (created if missing); FolderInUse naming the holder's pid if taken."""
    if fileio.is_remote(output_dir):
        return OutputLock(None)
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, layout.LOCK_FILE)
    # O_CLOEXEC (Python's default): worker processes never inherit, so never outlive, the lock.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        holder = _holder(fd)
        os.close(fd)
        if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise
        raise FolderInUse(
            f"--output_dir {output_dir} is in use by another preprocess run"
            f"{f' (pid {holder})' if holder else ''}: wait for it to end, or write elsewhere"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return OutputLock(fd)


def _holder(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""


@contextlib.contextmanager
def holding(output_dir: str):
    """The folder locked for the block's duration (see `acquire`)."""
    lock = acquire(output_dir)
    try:
        yield lock
    finally:
        lock.release()
