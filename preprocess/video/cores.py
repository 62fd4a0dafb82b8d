"""How many CPUs this job may use: what sizes the local worker pool and FFmpeg's threads.

`os.cpu_count()` counts the machine's CPUs, not the ones this process may run on: under
`taskset`, a cpuset or a container given 2 cores of a 64-core host it says 64, and a local job
sized by it started 64 worker threads, each with its own decoding process (about 150 MB each),
to share 2 cores. Pinned to one core of this 2-core machine, the job ran one worker thread but
two FFmpeg threads; one thread instead measured within noise of it (19.6-20.5 s either way for
504 clips), so the gain is the pool's size, not speed on one core.
"""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1
