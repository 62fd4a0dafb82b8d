"""Waiting on a condition with a deadline, for tests of live processes and threads.

A fixed sleep is a guess about how fast a loaded machine is: too short and the test fails under
load, too long and the suite is slow everywhere. These poll what the test is waiting for.
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout_s: float = 60.0, what: str = "condition",
               interval_s: float = 0.02) -> T:  # fmt: skip
    """The first truthy value of condition(), polled until timeout_s; AssertionError naming
    `what` if it never comes."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(interval_s)
