"""Files of both jobs, local or remote, with TensorFlow imported only for remote ones.

A local preprocess job never needs TensorFlow: its records are serialized by protobuf
(`schemas.example_proto`) and framed by `schemas.tfrecord_writer`. Importing TensorFlow only to
read a manifest or write dataset.json cost 2.5 s of start-up and 0.7 s of exit in a 15 s job
(docs/design.md, "Where the work runs"). So a local path goes through the standard library, and
a URL (gs://, s3://, hdfs://, …) through `tf.io.gfile`, imported then, exactly as before.

The functions mirror the `tf.io.gfile` calls they replace, with gfile's meanings: `listdir`
gives bare names, `makedirs` accepts an existing folder, `rename` refuses to overwrite unless
asked, text is UTF-8 and newlines are not translated.
"""

from __future__ import annotations

import glob as _glob
import os
import shutil
from typing import IO, Iterable


def _gfile():
    # Imported in a function, not through schemas.lazy_tf: Beam's type inference walks into
    # the functions a pipeline calls and probes module globals with hasattr, which would import
    # TensorFlow for a local job.
    import tensorflow as tf

    return tf.io.gfile


def is_remote(path: str) -> bool:
    """A URL with a scheme (gs://bucket/x), as opposed to a path of this machine."""
    return "://" in str(path)


def open_file(path: str, mode: str = "r") -> IO:
    """A file object; text modes read and write UTF-8 and keep newlines as they are."""
    if is_remote(path):
        return _gfile().GFile(path, mode)
    if "b" in mode:
        return open(path, mode)  # noqa: SIM115 - the caller closes it (a `with` block)
    return open(path, mode, encoding="utf-8", newline="")  # noqa: SIM115


def exists(path: str) -> bool:
    return _gfile().exists(path) if is_remote(path) else os.path.exists(path)


def isdir(path: str) -> bool:
    return _gfile().isdir(path) if is_remote(path) else os.path.isdir(path)


def listdir(path: str) -> list[str]:
    """Names in a folder (a remote store may end sub-folder names with '/')."""
    return _gfile().listdir(path) if is_remote(path) else os.listdir(path)


def glob(pattern: str) -> list[str]:
    return _gfile().glob(pattern) if is_remote(pattern) else _glob.glob(pattern)


def makedirs(path: str) -> None:
    """The folder and its parents; an existing folder is fine."""
    if is_remote(path):
        _gfile().makedirs(path)
    else:
        os.makedirs(path, exist_ok=True)


def remove(path: str) -> None:
    if is_remote(path):
        _gfile().remove(path)
    else:
        os.remove(path)


def rmtree(path: str) -> None:
    if is_remote(path):
        _gfile().rmtree(path)
    else:
        shutil.rmtree(path)


def rename(src: str, dst: str, overwrite: bool = False) -> None:
    """Moves src to dst; on one local file system, atomically."""
    if is_remote(src) or is_remote(dst):
        _gfile().rename(src, dst, overwrite=overwrite)
    elif overwrite:
        os.replace(src, dst)
    elif os.path.exists(dst):
        raise FileExistsError(f"{dst} exists: not overwritten by a rename of {src}")
    else:
        os.rename(src, dst)


def write_atomic(
    path: str, data: str | bytes | Iterable[str] | Iterable[bytes], tmp: str | None = None
) -> None:
    """Writes `path` under a temporary name (`tmp`, default `path.tmp`) and renames it over `path`.

    Whoever sees the name sees the whole file: the trainer, a rerun and the launcher take a
    file's presence as a promise (dataset.json means "finished"), and a kill mid-write leaves only
    the `.tmp` name, which --overwrite removes with the rest of a run (`layout.is_run_file`).
    `data` may also be chunks, written as they come, for a file too large to build in memory;
    text or bytes as the first chunk is.
    """
    chunks = iter([data] if isinstance(data, (str, bytes)) else data)
    first = next(chunks, "")
    tmp = tmp or f"{path}.tmp"
    with open_file(tmp, "wb" if isinstance(first, bytes) else "w") as f:
        f.write(first)
        for chunk in chunks:
            f.write(chunk)
    rename(tmp, path, overwrite=True)


def size(path: str) -> int:
    """Length of a file in bytes."""
    return _gfile().stat(path).length if is_remote(path) else os.path.getsize(path)


def error_types() -> tuple[type[BaseException], ...]:
    """What a failed file operation raises: OSError here, and tf.errors.OpError if TensorFlow is
    loaded (a remote path went through gfile), without importing TensorFlow to find out."""
    import sys

    loaded = sys.modules.get("tensorflow")
    return (OSError, loaded.errors.OpError) if loaded is not None else (OSError,)
