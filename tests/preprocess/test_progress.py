"""A local run's progress as the launcher sees it: each clip once, failures by reason, drawn or
logged."""

import io

from preprocess import progress
from tests.waiting import wait_until


def _append(path, *lines):
    with open(path, "a") as f:
        f.write("".join(line + "\n" for line in lines))


def test_reader_counts_each_clip_once_and_failures_by_reason(tmp_path):
    path = tmp_path / "progress.log"
    reader = progress.ProgressReader(str(path))
    assert reader.poll() == 0  # nothing written yet
    _append(path, "0 ok", "1 missing_file", "2 ok")
    with open(path, "a") as f:
        f.write("3 time")  # a line being written
    assert reader.poll() == 3
    with open(path, "a") as f:
        f.write("out\n2 ok\n")  # the rest of it; a retried bundle repeats clip 2
    assert reader.poll() == 1
    assert (reader.done, reader.written) == (4, 2)
    assert reader.failures == {"missing_file": 1, "timeout": 1}
    assert progress.failures_text(reader.failures) == "2 failed (missing_file=1, timeout=1)"


def test_terminal_gets_a_redrawn_line(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")  # the line's width must not depend on where pytest runs
    path = tmp_path / "progress.log"
    out = io.StringIO()
    display = progress.ProgressDisplay(
        progress.ProgressReader(str(path)), 10, out, terminal=True, refresh_s=0.05
    ).start()
    _append(path, "0 ok", "1 ok", "2 not_a_video")
    wait_until(lambda: "decoding 3/10" in out.getvalue(), 30, "the line to show 3 clips")
    display.stop()
    text = out.getvalue()
    assert "\r" in text  # redrawn in place
    last = text.rstrip("\n").split("\r")[-1]
    assert last.startswith("decoding 3/10 clips |")
    assert "clips/s" in last and "left" in last and "1 failed (not_a_video=1)" in last


def test_elsewhere_a_line_every_interval_and_a_final_one(tmp_path):
    path = tmp_path / "progress.log"
    out = io.StringIO()
    reader = progress.ProgressReader(str(path))
    display = progress.ProgressDisplay(
        reader, 4, out, terminal=False, refresh_s=0.05, log_every_s=0.2,
    ).start()  # fmt: skip
    _append(path, "0 ok")
    wait_until(lambda: reader.done == 1, 30, "the reader to see clip 0")
    _append(path, "1 ok")
    wait_until(lambda: "decoded 2/4 clips, " in out.getvalue(), 30, "a logged line at 2 clips")
    _append(path, "2 ok", "3 timeout")
    display.stop()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert any(line.startswith("decoded 2/4 clips, ") and " left, 0 failed" in line
               for line in lines), lines  # fmt: skip
    assert lines[-1].startswith("decoded 4/4 clips in ")
    assert lines[-1].endswith("1 failed (timeout=1)")
