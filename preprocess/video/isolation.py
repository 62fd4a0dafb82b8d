"""Decoding in a long-lived child process with per-clip time and memory limits.

A scraped dataset holds files that make FFmpeg crash the process (a native segfault), loop
forever, or decode frames far larger than any sign video. Decoding them in the Beam worker
itself would kill or stall the whole job; here each DoFn instance sends its clips to one child
process (`python -m preprocess.video.isolation`), so such a file costs one clip, with the reason
decoder_crashed (the child died: a signal such as SIGSEGV, or the kernel's OOM killer), timeout
(no result within `timeout_s`) or too_large (the header declares more than the limits allow, or
decoding ran out of the child's address space): schemas.reasons. A child that crashed, timed
out or ran out of memory is replaced before the next clip.

The child is reused from clip to clip (a process per clip would pay Python's and FFmpeg's start
for every video); it exits when its parent goes away, even when the parent is SIGKILLed.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import time

from preprocess.video import registry
from preprocess.video.limits import ClipLimits, check_declared_size
from schemas import fileio, reasons

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">Q")
_WINDOW_ARGS = ("frame_start", "frame_end", "fps", "start_time", "end_time")
_STARTUP_TIMEOUT_S = 300


class IsolatedDecoder:
    """decode(path, **decode_clip kwargs) → DecodedClip, run in a child process under limits."""

    def __init__(self, decoder_name: str, limits: ClipLimits, encodes: bool = False):
        """encodes: the child will be asked to encode frames (decode_many's encode_with), so it
        loads the encoder when it starts, before any clip's time limit runs."""
        self._decoder_name = decoder_name
        self._limits = limits
        self._encodes = encodes
        self._proc: subprocess.Popen | None = None

    def decode(self, path: str, **kwargs):
        """One clip: its DecodedClip, or its DecodeError raised."""
        (result,) = self.decode_many(path, [kwargs])
        if isinstance(result, Exception):
            raise result
        return result

    def decode_many(self, path: str, batch: list[dict], encode_with=None) -> list:
        """Several clips of one video, decoded in one pass: per clip a DecodedClip or DecodeError.

        Each clip keeps its own time budget (the limit is timeout_s per clip of the batch); a
        crash or timeout is every clip's, since they share the video that caused it.
        encode_with: a schemas.features.ClipSchema whose encodes_without_tensorflow holds; the
        child then encodes the frames itself (DecodedClip.encoded) and sends back the encoded
        frames instead of raw pixels.
        """
        from preprocess.video.decoder import DecodeError

        timeout = self._limits.timeout_s * len(batch) or None
        message = (path, list(batch), encode_with)
        try:
            self._send(message)
        except OSError:
            # The child died between videos (not on this one): start a fresh one and go on.
            self._kill()
            self._send(message)
        # From here: a child's start-up (Python, FFmpeg, the encoder) is no clip's time.
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            reply = self._receive(deadline)
        except TimeoutError:
            self._kill()
            error = DecodeError(
                path, reasons.TIMEOUT, f"no result after {timeout:g} s (--clip_timeout_s per clip)"
            )
            return [error] * len(batch)
        except EOFError:
            return [DecodeError(path, reasons.DECODER_CRASHED, self._death())] * len(batch)
        results = []
        for kind, *values in reply:
            if kind == "ok":
                results.append(values[0])
                continue
            reason, detail, info = values
            if reason == reasons.TOO_LARGE:
                self._kill()  # a process that ran out of memory is not trusted with the next one
            results.append(DecodeError(path, reason, detail, info))
        return results

    def close(self) -> None:
        if self._proc is None:
            return
        proc, self._proc = self._proc, None
        try:
            proc.stdin.close()  # the child's signal to exit
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    # ------------------------------------------------------------------ internals
    def _start(self) -> None:
        env = dict(os.environ)
        # The child imports this package (and a test decoder) from where the parent found it.
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        # glibc reserves 64 MB of address space per thread arena; RLIMIT_AS counts reservations.
        env.setdefault("MALLOC_ARENA_MAX", "2")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "preprocess.video.isolation", str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            bufsize=0,
        )
        self._send_raw((self._decoder_name, self._limits, self._encodes))
        try:
            # Start-up (Python, FFmpeg, the encoder) is no clip's time: wait for it.
            ready = self._receive(time.monotonic() + _STARTUP_TIMEOUT_S)
        except (TimeoutError, EOFError):
            ready = None
        if ready != "ready":
            log.warning("the decoding process did not start (%s)", self._death_or_kill())

    def _send(self, message) -> None:
        if self._proc is None or self._proc.poll() is not None:
            self._kill()
            self._start()
            if self._proc is None:
                raise OSError("the decoding process did not start")
        self._send_raw(message)

    def _send_raw(self, message) -> None:
        payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        self._proc.stdin.write(_HEADER.pack(len(payload)) + payload)

    def _receive(self, deadline):
        fd = self._proc.stdout.fileno()
        header = _read_exactly(fd, _HEADER.size, deadline)
        return pickle.loads(_read_exactly(fd, _HEADER.unpack(header)[0], deadline))

    def _death_or_kill(self) -> str:
        if self._proc is not None and self._proc.poll() is None:
            self._kill()
            return f"no answer within {_STARTUP_TIMEOUT_S} s"
        return self._death()

    def _death(self) -> str:
        proc, self._proc = self._proc, None
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        if code < 0:
            name = signal.Signals(-code).name
            hint = " (the kernel's out-of-memory killer?)" if -code == signal.SIGKILL else ""
            return f"the decoding process died of {name}{hint}"
        return f"the decoding process exited with status {code}"

    def _kill(self) -> None:
        if self._proc is not None:
            proc, self._proc = self._proc, None
            proc.kill()
            proc.wait()


def _read_exactly(fd: int, n: int, deadline) -> bytes:
    chunks, got = [], 0
    while got < n:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise TimeoutError
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            raise TimeoutError
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


# ---------------------------------------------------------------------- the child process


def _limit_address_space(memory_mb: int) -> None:
    """Lets this process grow by memory_mb from where it stands now (Linux; elsewhere a no-op)."""
    try:
        import resource

        with open("/proc/self/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        now = int(fields["VmSize"].split()[0]) * 1024
    except (ImportError, OSError, KeyError, ValueError):
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (hard, hard))  # the previous clip's limit off first
    if memory_mb:
        soft = now + memory_mb * 2**20
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _exit_with_parent(parent: int) -> None:
    # A SIGKILLed parent closes no pipe we could notice while a decode hangs: watch for it.
    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(3)

    threading.Thread(target=watch, daemon=True).start()


def _serve(parent: int) -> None:
    requests = sys.stdin.buffer
    replies = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # a decoder that prints must not corrupt the replies
    _exit_with_parent(parent)

    def read():
        header = requests.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return None
        return pickle.loads(requests.read(_HEADER.unpack(header)[0]))

    def reply(message):
        payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        replies.write(_HEADER.pack(len(payload)) + payload)

    decoder_name, limits, encodes = read()

    decode = registry.resolve(decoder_name)
    if encodes:
        # Load the encoder (Pillow's JPEG, no TensorFlow) before any clip's time runs.
        import numpy as np

        from schemas.features import ClipSchema

        ClipSchema(num_frames=1, size=8).encode_frames(np.zeros((1, 8, 8, 3), np.uint8))
    reply("ready")
    while (request := read()) is not None:
        path, batch, schema = request
        if fileio.is_remote(path):
            import tensorflow  # noqa: F401  (gs:// goes through tf.io.gfile: imported unlimited)
        _limit_address_space(limits.memory_mb)
        try:
            answers = _decode_batch(decode, path, batch, limits)
        except MemoryError as e:
            detail = (f"out of memory decoding it ({e or 'MemoryError'}), "
                      f"over --clip_memory_mb={limits.memory_mb}")  # fmt: skip
            answers = [("error", reasons.TOO_LARGE, detail, {})] * len(batch)
        _limit_address_space(0)  # encoding is not the video's
        if schema is not None:
            answers = [_encoded(path, answer, schema) for answer in answers]
        reply(answers)


def _encoded(path: str, answer: tuple, schema) -> tuple:
    """A decoded clip's answer with its frames encoded here, where they were decoded."""
    if answer[0] != "ok":
        return answer
    clip = answer[1]
    try:
        encoded = tuple(schema.encode_frames(clip.frames))
    except Exception as e:  # noqa: BLE001 - frames that break the contract cost their clip
        return (
            "error",
            reasons.DECODE_FAILED,
            f"cannot encode the frames: {type(e).__name__}: {e}",
            {},
        )
    return ("ok", dataclasses.replace(clip, frames=None, encoded=encoded))


def _decode_batch(decode, path: str, batch: list[dict], limits: ClipLimits) -> list[tuple]:
    """("ok", DecodedClip) or ("error", reason, detail, info) per clip of one video."""
    from preprocess.video import decoder, files

    replies: list = [None] * len(batch)
    try:
        # Before anything opens it: FFmpeg opening a FIFO would wait for a writer (a timeout), and
        # each decoder would name a file problem in its own words.
        files.check_file(path)
    except decoder.DecodeError as e:
        return [_error_reply(path, e, limits)] * len(batch)
    pending = []
    for i, kwargs in enumerate(batch):
        try:
            window = decoder.clip_window(
                **{k: kwargs[k] for k in _WINDOW_ARGS if kwargs.get(k) is not None}
            )
            check_declared_size(path, limits, window)
            pending.append((i, kwargs, window))
        except Exception as e:  # noqa: BLE001 - one clip's problem costs that clip
            replies[i] = _error_reply(path, e, limits)
    if decode is decoder.decode_clip and pending:
        # PyAV: one pass over the video for all its clips (decoder.decode_clips).
        requests = [
            decoder.ClipRequest(w, kw.get("num_frames", 20), kw.get("size", 150), kw.get("crop"))
            for _, kw, w in pending
        ]
        threads = pending[0][1].get("threads", 0)
        try:
            results = decoder.decode_clips(path, requests, threads)
        except Exception as e:  # noqa: BLE001 - a decoder bug must cost the clips, and say so
            results = [e] * len(pending)
        for (i, _, _), result in zip(pending, results):
            replies[i] = ("ok", result) if isinstance(result, decoder.DecodedClip) else (
                _error_reply(path, result, limits))  # fmt: skip
        return replies
    for i, kwargs, _ in pending:  # other decoders (decord, test decoders): clip by clip
        try:
            replies[i] = ("ok", decode(path, **kwargs))
        except Exception as e:  # noqa: BLE001 - one clip's problem costs that clip
            replies[i] = _error_reply(path, e, limits)
    return replies


def _error_reply(path: str, error: Exception, limits: ClipLimits) -> tuple:
    from preprocess.video import decoder

    if isinstance(error, MemoryError) or isinstance(error.__cause__, MemoryError):
        detail = getattr(error, "detail", None) or f"out of memory decoding it ({error})"
        return (
            "error",
            reasons.TOO_LARGE,
            f"{detail}, over --clip_memory_mb={limits.memory_mb}",
            {},
        )
    if isinstance(error, decoder.DecodeError):
        return ("error", error.reason, error.detail, error.info)
    log.error("unexpected error decoding %s", path, exc_info=error)
    return ("error", reasons.DECODE_FAILED, f"{type(error).__name__}: {error}", {})


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
