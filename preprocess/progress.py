"""Live progress of a local run: clips done of total, clips/s, time left, failures by reason.

Local workers are separate processes (FnApiRunner's multi_processing mode) and Beam's metrics are
only readable once the job has ended, so each worker appends one short line per clip
(`<manifest index> <ok | failure reason>`) to a file on the local disk, and the launcher reads
what was added every second: one O_APPEND write per clip, no listing of folders. The launcher
draws a tqdm line on a terminal and logs a line every `log_every_s` seconds elsewhere.

On Dataflow the same numbers are the job's Beam counters (preprocess/clips_written,
clips_failed, failed_<reason>: BUILD.md says where the job page shows them).
"""

from __future__ import annotations

import collections
import os
import shutil
import threading
import time
from typing import TextIO

import apache_beam as beam

OK = "ok"


class NoteProgressFn(beam.DoFn):
    """Appends `<index> <outcome>` for each clip it sees to a local file (local runners only).

    Lines under PIPE_BUF bytes appended with O_APPEND land whole even when several processes
    write at once; a retried bundle repeats an index, which the reader counts once.
    """

    def __init__(self, path: str, failed: bool):
        self._path = path
        self._failed = failed

    def setup(self):
        self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def teardown(self):
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)
            self._fd = None

    def process(self, element):
        if self._failed:  # (index, error row)
            index, row = element
            outcome = str(row.get("reason", "failed")) if isinstance(row, dict) else "failed"
        else:  # EncodedClip
            index, outcome = element.index, OK
        os.write(self._fd, f"{int(index)} {outcome.replace(' ', '_')}\n".encode("utf-8"))
        return []


class ProgressReader:
    """Reads what the workers appended since the last call; counts each clip once."""

    def __init__(self, path: str):
        self._path = path
        self._offset = 0
        self._pending = b""
        self._seen: set[int] = set()
        self.written = 0
        self.failures: collections.Counter = collections.Counter()

    @property
    def done(self) -> int:
        return len(self._seen)

    def poll(self) -> int:
        """Reads new lines; returns how many clips they added."""
        try:
            with open(self._path, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return 0
        self._offset += len(chunk)
        *lines, self._pending = (self._pending + chunk).split(b"\n")
        before = self.done
        for line in lines:
            index, _, outcome = line.decode("utf-8", "replace").partition(" ")
            try:
                index = int(index)
            except ValueError:
                continue
            if index in self._seen:
                continue
            self._seen.add(index)
            if outcome == OK:
                self.written += 1
            else:
                self.failures[outcome] += 1
        return self.done - before


def failures_text(failures: collections.Counter) -> str:
    if not failures:
        return "0 failed"
    detail = ", ".join(f"{reason}={n}" for reason, n in sorted(failures.items()))
    return f"{sum(failures.values())} failed ({detail})"


def _interval(seconds: float) -> str:
    from tqdm import tqdm

    return tqdm.format_interval(max(0, int(seconds)))


class ProgressDisplay:
    """Draws a ProgressReader's counts until stopped.

    `terminal` True: one tqdm line, redrawn every `refresh_s`; False: a plain line every
    `log_every_s` (a log file or CI console has no line to redraw). Lines from other sources go
    through `external_write()` so they do not tear the tqdm line.
    """

    def __init__(
        self,
        reader: ProgressReader,
        total: int,
        out: TextIO,
        terminal: bool,
        refresh_s: float = 1.0,
        log_every_s: float = 30.0,
        lock: threading.Lock | None = None,
    ):
        self._reader = reader
        self._total = total
        self._out = out
        self._terminal = terminal
        self._refresh_s = refresh_s
        self._log_every_s = log_every_s
        self._lock = lock or threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bar = None
        self._start = time.monotonic()
        self._last_log = self._start
        self._first: tuple[float, int] | None = None  # (time, clips done) when clips first showed

    def external_write(self):
        """Context manager around writing another line to `out`."""
        import contextlib

        if self._bar is None:
            return contextlib.nullcontext()
        from tqdm import tqdm

        return tqdm.external_write_mode(file=self._out)

    def start(self) -> "ProgressDisplay":
        self._start = self._last_log = time.monotonic()
        if self._terminal:
            from tqdm import tqdm

            with self._lock:
                self._bar = tqdm(
                    total=self._total,
                    file=self._out,
                    unit=" clips",
                    # A terminal that reports no width (a pty under `script`, some CI) gets 100.
                    ncols=shutil.get_terminal_size((100, 24)).columns or 100,
                    mininterval=self._refresh_s,
                    smoothing=0.1,
                    bar_format="decoding {n_fmt}/{total_fmt} clips |{bar:20}| {rate_noinv_fmt}, "
                    "{remaining} left{postfix}",
                    postfix=failures_text(self._reader.failures),
                )
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)
        self._thread.start()
        return self

    def stop(self, finished: bool = True) -> None:
        """Stops drawing; `finished` draws the final counts first (not after an interrupt)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if finished:
            self._update(final=True)
        if self._bar is not None:
            with self._lock:
                if finished:
                    self._bar.close()
                else:
                    self._bar.leave = False
                    self._bar.close()
            self._bar = None

    def _loop(self) -> None:
        while not self._stop.wait(min(self._refresh_s, 1.0)):
            self._update(final=False)

    def _update(self, final: bool) -> None:
        added = self._reader.poll()
        now = time.monotonic()
        if added and self._first is None:
            self._first = (now, self._reader.done)
        if self._bar is not None:
            with self._lock:
                postfix = failures_text(self._reader.failures)
                if self._reader.done >= self._total and not final:
                    postfix += "; writing shards"
                self._bar.set_postfix_str(postfix, refresh=False)
                if added:
                    self._bar.update(added)
                else:
                    self._bar.refresh()
            return
        if final or now - self._last_log >= self._log_every_s:
            self._last_log = now
            with self._lock:
                self._out.write(self.line(now, final) + "\n")
                self._out.flush()

    def line(self, now: float, final: bool = False) -> str:
        """The non-terminal line: done/total, clips/s, time left, failures."""
        done = self._reader.done
        failures = failures_text(self._reader.failures)
        if final:
            elapsed = _interval(now - self._start)
            return f"decoded {done}/{self._total} clips in {elapsed}, {failures}"
        rate, left = 0.0, "?"
        if self._first is not None and now > self._first[0]:
            # Counted from the first clip seen: worker start-up says nothing about what is left.
            rate = (done - self._first[1]) / (now - self._first[0])
            if rate > 0:
                left = _interval((self._total - done) / rate)
        return f"decoded {done}/{self._total} clips, {rate:.2f} clips/s, {left} left, {failures}"
