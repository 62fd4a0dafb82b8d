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
from preprocess.video.messages import (
    ClipReply,
    ClipRequest,
    DecodedClip,
    DecodeError,
    VideoRequest,
    clip_window,
)
from schemas import fileio, reasons

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">Q")
_WINDOW_ARGS = ("frame_start", "frame_end", "fps", "start_time", "end_time")
_STARTUP_TIMEOUT_S = 300


class IsolatedDecoder:
    """decode_video(VideoRequest) → a ClipReply per clip, run in a child process under limits."""

    def __init__(self, decoder_name: str, limits: ClipLimits, encodes: bool = False):
        """encodes: the child will be asked to encode frames (VideoRequest.encode_with), so it
        loads the encoder when it starts, before any clip's time limit runs."""
        self._decoder_name = decoder_name
        self._limits = limits
        self._encodes = encodes
        self._proc: subprocess.Popen | None = None

    def decode(self, path: str, threads: int = 0, **kwargs) -> DecodedClip:
        """One clip by decode_clip's keyword arguments: its DecodedClip, or its DecodeError
        raised."""
        request = ClipRequest(
            clip_window(**{k: kwargs.pop(k) for k in _WINDOW_ARGS if k in kwargs}), **kwargs
        )
        (reply,) = self.decode_video(VideoRequest(path, (request,), threads))
        if reply.error is not None:
            raise reply.error
        return reply.decoded

    def decode_video(self, request: VideoRequest) -> list[ClipReply]:
        """The clips of one video, decoded in one pass: a ClipReply per clip, in order.

        Each clip keeps its own time budget (the limit is timeout_s per clip of the request); a
        crash or timeout is every clip's, since they share the video that caused it.
        """
        path, count = request.path, len(request.clips)
        timeout = self._limits.timeout_s * count or None
        try:
            self._send(request)
        except OSError:
            # The child died between videos (not on this one): start a fresh one and go on.
            self._kill()
            self._send(request)
        # From here: a child's start-up (Python, FFmpeg, the encoder) is no clip's time.
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            replies = self._receive(deadline)
        except TimeoutError:
            self._kill()
            detail = f"no result after {timeout:g} s (--clip_timeout_s per clip)"
            return [ClipReply(error=DecodeError(path, reasons.TIMEOUT, detail))] * count
        except EOFError:
            error = DecodeError(path, reasons.DECODER_CRASHED, self._death())
            return [ClipReply(error=error)] * count
        if any(r.error is not None and r.error.reason == reasons.TOO_LARGE for r in replies):
            self._kill()  # a process that ran out of memory is not trusted with the next one
        return replies

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
        reply(_answer(decode, request, limits))


def _answer(decode, request: VideoRequest, limits: ClipLimits) -> list[ClipReply]:
    """A ClipReply per clip of the request, decoded under the limits, encoded if asked."""
    path = request.path
    if fileio.is_remote(path):
        import tensorflow  # noqa: F401  (gs:// goes through tf.io.gfile: imported unlimited)
    _limit_address_space(limits.memory_mb)
    try:
        replies = _decode_video(decode, request, limits)
    except MemoryError as e:
        detail = (f"out of memory decoding it ({e or 'MemoryError'}), "
                  f"over --clip_memory_mb={limits.memory_mb}")  # fmt: skip
        replies = [ClipReply(error=DecodeError(path, reasons.TOO_LARGE, detail))] * len(
            request.clips
        )
    _limit_address_space(0)  # encoding is not the video's
    if request.encode_with is not None:
        replies = [_encoded(path, reply, request.encode_with) for reply in replies]
    return replies


def _encoded(path: str, reply: ClipReply, schema) -> ClipReply:
    """A decoded clip's reply with its frames encoded here, where they were decoded."""
    if reply.decoded is None:
        return reply
    try:
        encoded = tuple(schema.encode_frames(reply.decoded.frames))
    except Exception as e:  # noqa: BLE001 - frames that break the contract cost their clip
        detail = f"cannot encode the frames: {type(e).__name__}: {e}"
        return ClipReply(error=DecodeError(path, reasons.DECODE_FAILED, detail))
    return ClipReply(decoded=dataclasses.replace(reply.decoded, frames=None, encoded=encoded))


def _decode_video(decode, request: VideoRequest, limits: ClipLimits) -> list[ClipReply]:
    """A ClipReply per clip of one video: the file checked once, each clip's declared size,
    then one pass for all clips (PyAV) or one decode per clip (other decoders)."""
    from preprocess.video import decoder, files

    path = request.path
    replies: list = [None] * len(request.clips)
    try:
        # Before anything opens it: FFmpeg opening a FIFO would wait for a writer (a timeout), and
        # each decoder would name a file problem in its own words.
        files.check_file(path)
    except DecodeError as e:
        return [_error_reply(path, e, limits)] * len(request.clips)
    pending = []
    for i, clip in enumerate(request.clips):
        try:
            check_declared_size(path, limits, clip.window)
            pending.append((i, clip))
        except Exception as e:  # noqa: BLE001 - one clip's problem costs that clip
            replies[i] = _error_reply(path, e, limits)
    if decode is decoder.decode_clip and pending:
        # PyAV: one pass over the video for all its clips (decoder.decode_clips).
        try:
            results = decoder.decode_clips(path, [c for _, c in pending], request.threads)
        except Exception as e:  # noqa: BLE001 - a decoder bug must cost the clips, and say so
            results = [e] * len(pending)
        for (i, _), result in zip(pending, results):
            replies[i] = ClipReply(decoded=result) if isinstance(result, DecodedClip) else (
                _error_reply(path, result, limits))  # fmt: skip
        return replies
    for i, clip in pending:  # other decoders (decord, test decoders): clip by clip
        try:
            replies[i] = ClipReply(decoded=decode(path, threads=request.threads,
                                                  **clip.arguments()))  # fmt: skip
        except Exception as e:  # noqa: BLE001 - one clip's problem costs that clip
            replies[i] = _error_reply(path, e, limits)
    return replies


def _error_reply(path: str, error: Exception, limits: ClipLimits) -> ClipReply:
    if isinstance(error, MemoryError) or isinstance(error.__cause__, MemoryError):
        detail = getattr(error, "detail", None) or f"out of memory decoding it ({error})"
        detail = f"{detail}, over --clip_memory_mb={limits.memory_mb}"
        return ClipReply(error=DecodeError(path, reasons.TOO_LARGE, detail))
    if isinstance(error, DecodeError):
        return ClipReply(error=DecodeError(path, error.reason, error.detail, error.info))
    log.error("unexpected error decoding %s", path, exc_info=error)
    detail = f"{type(error).__name__}: {error}"
    return ClipReply(error=DecodeError(path, reasons.DECODE_FAILED, detail))


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
