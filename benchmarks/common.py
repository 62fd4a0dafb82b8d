"""What every benchmark shares: the machine it ran on, ratios with targets, medians, tables.

Standard library only, so the GPU proxy (benchmarks.gpu_proxy) can use it on a machine without
TensorFlow.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import shutil
import statistics
import tempfile


def machine_info() -> dict:
    """What the figures were measured on: cores, CPU model, memory, and the software versions."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import psutil

        ram_gib = round(psutil.virtual_memory().total / 2**30, 1)
        load = [round(x, 2) for x in psutil.getloadavg()]
    except (ImportError, OSError):
        ram_gib, load = None, None
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu": cpu,
        "ram_gib": ram_gib,
        "load_average_at_start": load,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def ratio(numerator: float, denominator: float, target: float | None = None, below=False) -> dict:
    """A ratio with its target; `below` means the target is an upper bound."""
    value = numerator / denominator if denominator else float("nan")
    entry = {"value": value, "numerator": numerator, "denominator": denominator, "target": target}
    entry["below"] = below
    if target is not None:
        entry["met"] = bool(value < target) if below else bool(value >= target)
    return entry


def median(values) -> float:
    values = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.median(values) if values else float("nan")


def format_table(headers: list[str], rows: list[list]) -> str:
    """A plain-text (and Markdown-compatible) table."""

    def cell(v):
        if isinstance(v, float):
            if not math.isfinite(v):
                return "n/a"
            return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}"
        return str(v)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) for i, h in enumerate(headers)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in text]
    return "\n".join(lines)


def ratio_rows(ratios: dict) -> list[list]:
    rows = []
    for name, r in ratios.items():
        target = r.get("target")
        if target is None:
            verdict = ""
        else:
            verdict = (
                "met" if r["met"] else "MISSED"
            ) + f" ({'<' if r.get('below') else '>='} {target})"
        rows.append([name, r["value"], verdict])
    return rows


@contextlib.contextmanager
def workdir(kept: str, prefix: str):
    """The folder a benchmark writes its data to: `kept` (created, left in place) or, when it is
    '', a temporary folder removed afterwards."""
    folder = kept or tempfile.mkdtemp(prefix=prefix)
    os.makedirs(folder, exist_ok=True)
    try:
        yield folder
    finally:
        if not kept:
            shutil.rmtree(folder, ignore_errors=True)
