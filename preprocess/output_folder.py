"""The output folder's lifecycle: refuse a file or another run's output, claim the folder, clear it.

A folder is one run's: `check_output_path` refuses a typo before anything happens, the lock
(preprocess/output_lock.py) keeps a second live run out, and `prepare_output_dir` decides whether
an earlier run's files may be replaced (docs/design.md, "Output folder").
"""

from __future__ import annotations

import contextlib
import json
import logging
import os

from preprocess import output_lock
from preprocess.flags import UsageError
from schemas import fileio, layout


@contextlib.contextmanager
def claimed(output_dir: str, overwrite: bool, argv: list[str]):
    """output_dir checked, held by this process and cleared for this run, for the block."""
    check_output_path(output_dir)
    with output_lock.holding(output_dir):  # before anything in the folder is deleted
        prepare_output_dir(output_dir, overwrite, argv)
        yield


def _our_files(output_dir: str) -> list[str]:
    if not fileio.isdir(output_dir):
        return []
    return sorted(n for n in fileio.listdir(output_dir) if layout.is_run_file(n))


def _started_by(output_dir: str) -> list[str] | None:
    """The command line of the run that started writing into output_dir, if it left one."""
    path = layout.join(output_dir, layout.STARTED_JSON)
    try:
        with fileio.open_file(path) as f:
            return json.load(f).get("argv")
    except (*fileio.error_types(), ValueError, AttributeError):
        return None


def check_output_path(output_dir: str) -> None:
    """--output_dir must be a folder or not exist yet: a file there is a typo, said in one line."""
    if fileio.exists(output_dir) and not fileio.isdir(output_dir):
        raise UsageError(f"--output_dir {output_dir} is a file, not a folder: name a new or "
                         "empty folder")  # fmt: skip
    parent = os.path.dirname(output_dir.rstrip("/"))
    if not fileio.is_remote(output_dir) and parent and os.path.isfile(parent):
        raise UsageError(f"--output_dir {output_dir}: {parent} is a file, not a folder")


def prepare_output_dir(output_dir: str, overwrite: bool, argv: list[str] = ()) -> None:
    """Refuses to mix with an earlier run's shards unless told to replace them.

    A run of the same command that was cut short (killed, pre-empted: files but no
    dataset.json) is started again from scratch: its partial files cannot be trusted, and
    the command says what the user wants.
    """
    existing = _our_files(output_dir)
    finished = layout.DATASET_JSON in existing
    if existing and not finished and layout.FAILED_JSON in existing and not overwrite:
        # A run that failed its checks (say, a wrong --video_dir) left nothing worth keeping.
        logging.warning("%s holds a failed run; replacing it", output_dir)
        overwrite = True
    if existing and not finished and not overwrite and _started_by(output_dir) == list(argv):
        logging.warning(
            "%s holds an unfinished run of this same command (killed?); starting it again",
            output_dir,
        )
        overwrite = True
    if existing and not overwrite:
        state = (
            "holds a finished run"
            if finished
            else "holds an unfinished run (no dataset.json) of another command"
        )
        raise UsageError(
            f"--output_dir {output_dir} {state}: {', '.join(existing[:5])}"
            f"{' ...' if len(existing) > 5 else ''}. Use a new folder, or --overwrite to "
            "replace it."
        )
    for name in existing:
        path = layout.join(output_dir, name.rstrip("/"))
        if fileio.isdir(path):
            fileio.rmtree(path)
        else:
            fileio.remove(path)
    fileio.makedirs(output_dir)
    started = json.dumps({"argv": list(argv)}, ensure_ascii=False) + "\n"
    fileio.write_atomic(layout.join(output_dir, layout.STARTED_JSON), started)
