"""What a person sees on the terminal: our lines, actionable warnings, and nothing else by default.

Both jobs' commands keep the console quiet the same way: TensorFlow's C++ start-up lines and the
frameworks' INFO lines are hidden, our own lines and every warning are shown, and `--verbosity`
takes the same names (warning, info, debug) and absl's numbers for them. The mechanism lives
here, beside schemas/lazy_tf.py, because `schemas` is the one package both jobs import: training
may import nothing of preprocess but its video floor, and the design fixes the top-level
packages. training/console.py builds its absl commands on it (and training/inspect.py, the shard
inspector, its argparse one); preprocess/flags.py and preprocess/cli.py the preprocess command.

A local preprocess run starts worker processes (Beam's FnApiRunner), each importing TensorFlow,
and each writes straight to the terminal it inherited: Beam's worker `INFO` lines (logged before
the worker has read any option), TensorFlow's C++ start-up lines (written before TensorFlow reads
TF_CPP_MIN_LOG_LEVEL) and two warnings about `apitools` and `semi_persistent_directory` that ask
nothing of the user. No option reaches all of them, so `StderrFilter` sits between every process
of the run and the terminal: stderr (file descriptor 2, which the workers inherit) becomes a pipe
whose lines are copied to the terminal unless they match `NOISE`.

`--verbosity` follows absl's numbers as well as names: warning (-1, the default) shows our lines and
warnings; info (0) also shows the INFO lines of Beam and TensorFlow; debug (1) shows everything,
DEBUG included. With info or debug nothing is filtered.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import sys
import threading
from typing import Callable, TextIO

# --verbosity's names and absl's numbers for them. The argparse commands (preprocess, inspect)
# take the first three; the absl ones (training) take all four, absl's own --verbosity knowing
# numbers only.
VERBOSITIES = {"warning": -1, "info": 0, "debug": 1}
ABSL_VERBOSITIES = {**VERBOSITIES, "error": -2}
DEFAULT_VERBOSITY = "warning"
# TF_CPP_MIN_LOG_LEVEL for a quiet console: 2 hides TensorFlow's C++ INFO and WARNING lines, 3
# its ERROR lines too (a machine without a GPU logs "failed call to cuInit" as one).
TF_CPP_QUIET = "2"
TF_CPP_SILENT = "3"


def quiet_tensorflow_cpp(level: str | None) -> None:
    """Sets TF_CPP_MIN_LOG_LEVEL (None: "0", everything) before TensorFlow is imported, for this
    process and the workers it starts; a value the user set wins unless everything is asked for."""
    if level is None:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", level)


# TensorFlow's C++ start-up, via Abseil logging, written before any log level applies: I/W
# lines, and the cuInit error of a machine without a GPU (preprocess never uses one).
TF_CPP_NOISE = tuple(
    re.compile(p)
    for p in (
        r"^WARNING: All log messages before absl::InitializeLog\(\) is called",
        r"^[IW]\d{4} [\d:.]+\s+\d+ [\w.-]+:\d+\] ",
        r"^E\d{4} [\d:.]+\s+\d+ [\w.-]+:\d+\] .*cuInit",
        r"^To enable the following instructions: .* rebuild TensorFlow",
    )
)

# Lines that carry no information a user can act on (docs in the module docstring).
NOISE = TF_CPP_NOISE + tuple(
    re.compile(p)
    for p in (
        # Beam's SDK worker logs with Python's default format before it reads its options.
        r"^(INFO|DEBUG):[\w.]+:",
        r"^WARNING:root:apitools not found",
        r"^WARNING:[\w.]+:No semi_persistent_directory found",
        r"^WARNING:[\w.]+:Discarding unparseable args",
    )
)

# Python loggers whose warnings repeat another message or ask nothing of the user.
_QUIET_MESSAGES = (
    re.compile(r"^apitools not found"),
    re.compile(r"^No semi_persistent_directory found"),
    re.compile(r"^`FeatureConnector.dtype` is deprecated"),  # inside tensorflow-datasets itself
)


def parse_verbosity(text: str) -> str:
    """argparse type: a name of VERBOSITIES or absl's number for it."""
    value = text.strip().lower()
    for name, number in VERBOSITIES.items():
        if value in (name, str(number)):
            return name
    raise argparse.ArgumentTypeError(
        f"--verbosity must be one of {', '.join(VERBOSITIES)} (or absl's -1, 0, 1), got {text!r}"
    )


def verbosity_from_argv(argv: list[str]) -> str:
    """--verbosity read ahead of the real parse, so logging is set before Beam or TF is imported."""
    for i, arg in enumerate(argv):
        if arg.startswith("--verbosity="):
            text = arg.split("=", 1)[1]
        elif arg == "--verbosity" and i + 1 < len(argv):
            text = argv[i + 1]
        else:
            continue
        try:
            return parse_verbosity(text)
        except argparse.ArgumentTypeError:
            return DEFAULT_VERBOSITY  # the real parse reports it
    return DEFAULT_VERBOSITY


# Beam logs a failing step's exception here and then raises it from Pipeline.run, where the
# launcher says it in one line: at the default verbosity the log copy is a second, noisier line.
_RERAISED_BY = ("apache_beam.runners.common",)


class _QuietFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.name in _RERAISED_BY and record.levelno >= logging.ERROR:
            return False
        return not any(p.match(str(record.msg)) for p in _QUIET_MESSAGES)


def set_up(verbosity: str) -> None:
    """Environment and logging for this process and the workers it starts; call before importing
    TensorFlow or Beam (both log at import)."""
    quiet = verbosity == DEFAULT_VERBOSITY
    # Workers inherit the environment; NOISE catches the lines written before TF reads it.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", TF_CPP_QUIET if quiet else "0")
    level = {"warning": logging.WARNING, "info": logging.INFO, "debug": logging.DEBUG}[verbosity]
    root = logging.getLogger()
    for handler in list(root.handlers):
        # Ours from an earlier call, or logging.basicConfig's; a test harness's handlers stay.
        if type(handler) is logging.StreamHandler:
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    if quiet:
        handler.setFormatter(PlainLines())  # WARNING and above only: "warning: ..."
        handler.addFilter(_QuietFilter())
        # The local job service repeats each worker's own warnings a second time.
        logging.getLogger("apache_beam.runners.portability.local_job_service").setLevel(
            logging.ERROR
        )
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    try:  # absl (imported by TensorFlow) logs through its own handler once initialised
        from absl import logging as absl_logging

        absl_logging.set_verbosity(VERBOSITIES[verbosity])
    except ImportError:
        pass


class PlainLines(logging.Formatter):
    """`warning: message` for warnings and errors, the bare message for our INFO lines.

    No tracebacks: an expected failure is one line, and the frameworks log a worker's exception
    with its traceback (attached, or spelt out in the message) before the job fails with it.
    --verbosity=info or debug uses a plain Formatter, which shows them.
    """

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage().split("Traceback (most recent call last)")[0]
        record.message = record.message.rstrip() or "(see --verbosity=debug)"
        return self.formatMessage(record)

    def formatMessage(self, record: logging.LogRecord) -> str:
        if record.levelno >= logging.WARNING:
            return f"{record.levelname.lower()}: {record.message}"
        return record.message


class StderrFilter:
    """Routes file descriptor 2 of this process, and of every process it starts, through NOISE.

    Our own lines that must not pass through it (the progress line) go to `terminal`, a file on
    the real stderr; `write_line` and `around_write` keep them and the copied lines from tearing
    each other.
    """

    def __init__(self, noise=NOISE):
        self._noise = noise
        self._saved_fd: int | None = None
        self._read_fd: int | None = None
        self._thread: threading.Thread | None = None
        self.lock = threading.Lock()
        self._muted = False
        self.terminal: TextIO = sys.stderr
        # Called around every copied line, e.g. to clear and redraw a progress bar.
        self.around_write: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext

    def start(self) -> "StderrFilter":
        try:
            fd = sys.stderr.fileno()
        except (AttributeError, OSError, ValueError):
            return self  # stderr is not a file (captured by a test harness): nothing to route
        if fd != 2:
            return self
        sys.stderr.flush()
        self._saved_fd = os.dup(2)
        self.terminal = os.fdopen(os.dup(self._saved_fd), "w", buffering=1, errors="replace")
        read_fd, write_fd = os.pipe()
        os.dup2(write_fd, 2)
        os.close(write_fd)
        self._read_fd = read_fd
        self._thread = threading.Thread(target=self._pump, name="stderr-filter", daemon=True)
        self._thread.start()
        return self

    def mute(self) -> None:
        """Drops everything from now on (a run being interrupted: its workers' last words)."""
        self._muted = True

    def write_line(self, line: str) -> None:
        with self.lock, self.around_write():
            self.terminal.write(line.rstrip("\n") + "\n")
            self.terminal.flush()

    def stop(self, timeout_s: float = 2.0) -> None:
        if self._saved_fd is None:
            return
        sys.stderr.flush()
        os.dup2(self._saved_fd, 2)  # our end of the pipe closes; workers' ends closed as they ended
        os.close(self._saved_fd)
        self._saved_fd = None
        if self._thread is not None:
            self._thread.join(timeout_s)  # a straggler child may still hold the pipe: don't wait
        self.terminal.flush()

    def __enter__(self) -> "StderrFilter":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _pump(self) -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(self._read_fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                self._copy(raw.decode("utf-8", "replace"))
        if pending:
            self._copy(pending.decode("utf-8", "replace"))
        os.close(self._read_fd)

    def _copy(self, line: str) -> None:
        if self._muted or any(p.match(line) for p in self._noise):
            return
        try:
            self.write_line(line)
        except (OSError, ValueError):
            pass  # the terminal went away; nothing left to tell
