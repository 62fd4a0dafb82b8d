"""Which frames FFmpeg's reports of damage reach: its log lines and corrupt-frame flags, tied to
the packets they concern (docs: decoder's module docstring, "Damaged frame data").

FFmpeg conceals most damaged data instead of failing on it, so a clip built from concealed or
predicted-from-concealed frames would hold pixels the file does not; these helpers let the
decoder fail such a clip instead.
"""

from __future__ import annotations

import bisect
import threading

import av
import av.logging

from schemas import reasons


class Redo(Exception):
    """FFmpeg reported damage while a pass decoded on several threads (see _decode_pass)."""


# One set of capture state for the process: PyAV has one log callback.
_LOG_LOCK = threading.Lock()
_LOG_STATE: dict = {"users": 0}


class FFmpegLog:
    """FFmpeg's log lines while a pass decodes, through PyAV's av.logging (FFmpeg's own worker
    threads included, whose lines reach only a capture of all threads).

    FFmpeg logs the damage it conceals instead of failing on it ("error while decoding MB",
    "concealing N errors"); PyAV drops every line by default. A line from a worker thread cannot
    say which decoder it came from, so passes running at once in one process all see it: a
    damaged video can then fail another video's clips too, never pass its own.
    """

    def __enter__(self):
        with _LOG_LOCK:
            state = _LOG_STATE
            if state["users"] == 0:
                state["restore"] = (av.logging.get_level(), av.logging.get_skip_repeated())
                # PyAV holds back a repeated line and writes it out with the next, different one,
                # which may come in the next video's pass.
                av.logging.set_skip_repeated(False)
                av.logging.set_level(av.logging.INFO)  # "concealing N errors" is INFO
                state["capture"] = av.logging.Capture(local=False)
                state["lines"] = state["capture"].__enter__()
            state["users"] += 1
            self._shared = state["lines"]
            self._seen_shared = len(self._shared)
        # This thread's lines go to a capture of its own when it has one (the caller's, say).
        self._local_capture = av.logging.Capture(local=True)
        self._local = self._local_capture.__enter__()
        self._seen_local = 0
        return self

    def __exit__(self, *exc) -> None:
        self._local_capture.__exit__(*exc)
        with _LOG_LOCK:
            state = _LOG_STATE
            state["users"] -= 1
            if state["users"] == 0:
                state["capture"].__exit__(None, None, None)
                level, skip_repeated = state["restore"]
                av.logging.set_level(level)
                av.logging.set_skip_repeated(skip_repeated)

    def damage(self) -> list[str]:
        """The lines logged since the last call that report damage: errors, and concealment."""
        lines = []
        for kind in ("local", "shared"):
            logged, seen = getattr(self, f"_{kind}"), getattr(self, f"_seen_{kind}")
            end = len(logged)  # other threads may append meanwhile
            lines += logged[seen:end]
            setattr(self, f"_seen_{kind}", end)
        return [
            f"{name}: {message.strip()}" if name else message.strip()
            for level, name, message in lines
            if level <= av.logging.ERROR or "conceal" in message
        ]


class Damage:
    """Which displayed frames FFmpeg's reports of damage reach.

    A report is a line FFmpeg logs at ERROR or above, or about concealing errors (logged at INFO,
    and alone when a slice merely ends early), or a frame the decoder flags corrupt. A damaged
    picture spreads to every picture predicted from it up to the next key frame, and those may
    be shown before it (the B-frames before their P) or long after it. So, in decode order: a
    frame decoded from packet q shows the damage reported for packets k..q, where k is the
    packet of the last clean key frame at or before q that is already shown (an open GOP's
    leading pictures are shown before their key frame and may refer to the GOP before it), or q
    itself for a key frame.

    Exact only on one decoding thread, where a packet's reports come while it is read or decoded
    and each frame carries its packet's number (copy_opaque). With threads a report raises Redo.
    """

    def __init__(self, exact: bool, ffmpeg_log: FFmpegLog):
        self.exact = exact
        self.ffmpeg_log = ffmpeg_log
        self.sent = 0  # packets given to the decoder
        self.bad: list[int] = []  # packets reported damaged, in decode order
        self.why: dict[int, str] = {}
        self.keys: list[int] = []  # packets of the clean key frames shown so far
        self.shown_at: dict[int, int] = {}  # packet -> display index of its frame

    def next_packet(self, packet) -> int:
        """The packet's decode-order number; what the demuxer reported reading it is its."""
        number = self.sent if packet.size else max(self.sent - 1, 0)  # size 0: the final flush
        if packet.size:
            self.sent += 1
            if self.exact:
                packet.opaque = number
        self.decoded(number)
        return number

    def decoded(self, number: int) -> None:
        for line in self.ffmpeg_log.damage():
            self._report(number, line)

    def _report(self, number: int, why: str) -> None:
        if not self.exact:
            raise Redo
        if number not in self.why:
            self.why[number] = why
            bisect.insort(self.bad, number)

    def shown(self, frame, index: int) -> tuple[str, str, dict] | None:
        """The next displayed frame: None, or the (reason, detail, info) of its damage."""
        number = frame.opaque if self.exact else None
        if not isinstance(number, int):
            number = self.sent - 1  # no packet number: as late as it can be
        if frame.is_corrupt:
            self._report(number, "the decoder flagged the frame corrupt")
        if not self.exact:
            return None
        self.shown_at.setdefault(number, index)
        if frame.key_frame:  # decoded from itself alone
            since = number
        else:
            at = bisect.bisect_right(self.keys, number) - 1
            since = self.keys[at] if at >= 0 else 0
        first = bisect.bisect_left(self.bad, since)
        if first == len(self.bad) or self.bad[first] > number:
            if frame.key_frame:
                bisect.insort(self.keys, number)
            return None
        if number in self.why:
            return (
                reasons.CORRUPT_FRAME,
                f"frame {index} is damaged ({self.why[number]})",
                {"damaged_frame": index},
            )
        bad = self.bad[first]
        shown = self.shown_at.get(bad)
        where = f"frame {shown}" if shown is not None else (
            f"a frame shown later (packet {bad} in decode order)")  # fmt: skip
        detail = (
            f"frame {index} is predicted from {where}, which FFmpeg reported damaged "
            f"({self.why[bad]}), with no clean key frame between them"
        )
        return (
            reasons.DAMAGED_REFERENCE,
            detail,
            {
                "damaged_frame": -1 if shown is None else shown,
                "damaged_packet": bad,
            },
        )
