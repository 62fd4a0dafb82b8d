"""Every benchmark subcommand runs in tiny mode and reports well-formed figures (no timing checks).

Timings depend on the machine and its load, so nothing here compares speeds: the tests check that
each subcommand measures what it says (every ratio a positive finite number with its parts), prints
its tables and writes its JSON.
"""

import importlib.util
import json
import math
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "scripts", "benchmark.py")


def _load_script():
    spec = importlib.util.spec_from_file_location("benchmark_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(stage, tmp_path, capsys):
    json_out = tmp_path / f"{stage}.json"
    assert _load_script().main([stage, "--tiny", f"--json_out={json_out}"]) == 0
    printed = capsys.readouterr().out
    result = json.loads(json_out.read_text())
    assert result["benchmark"] == stage and result["tiny"] is True
    assert result["machine"]["nproc"] >= 1 and result["machine"]["cpu"]
    assert result["ratios"], "no ratio measured"
    for name, r in result["ratios"].items():
        assert math.isfinite(r["value"]) and r["value"] > 0, (name, r)
        assert math.isclose(r["value"], r["numerator"] / r["denominator"], rel_tol=1e-9), name
        if r["target"] is not None:
            assert isinstance(r["met"], bool)
        assert name in printed, f"ratio {name!r} missing from the printed table"
    assert f"wrote {json_out}" in printed
    return result, printed


def _positive(values):
    return all(math.isfinite(v) and v > 0 for v in values)


@pytest.mark.slow
def test_preprocess(tmp_path, capsys):
    result, printed = _run("preprocess", tmp_path, capsys)
    assert _positive(result["throughput"].values())
    targets = {n: r["target"] for n, r in result["ratios"].items() if r["target"] is not None}
    assert targets == {
        "pipeline 1 worker (1 core) / ffmpeg 1 thread (1 core)": 0.8,
        "2 workers / 1 worker on 1 core": 1.7,
        "worker peak RSS, 2x clips / 1x": 1.2,
    }
    # The runs really used separate Beam worker processes (Beam may start more than one a worker).
    run = result["rounds"][0]["2 workers, all cores"]["large"]
    assert run["num_worker_processes"] >= 2 and run["worker_peak_rss"] > 10_000_000
    assert result["memory"]["large"]["clips"] == 2 * result["memory"]["small"]["clips"]
    # Every encoding x compression, shard bytes adding up; raw frames are the clip's exact size.
    sizes = {(s["frame_encoding"], s["compression"]): s for s in result["sizes"]}
    assert set(sizes) == {(e, c) for e in ("jpeg", "png", "raw") for c in ("none", "gzip")}
    for s in sizes.values():
        assert sum(s["shards"].values()) == s["total_bytes"] > 0
        assert s["clips"] == result["corpus"]["clips"]
    assert sizes[("raw", "none")]["bytes_per_clip"] > 20 * 150 * 150 * 3
    assert sizes[("jpeg", "none")]["bytes_per_clip"] < sizes[("raw", "none")]["bytes_per_clip"]
    assert "bytes/clip" in printed


@pytest.mark.slow
def test_end_to_end(tmp_path, capsys):
    result, _ = _run("e2e", tmp_path, capsys)
    ((clips, rounds),) = result["rounds"].items()
    assert int(clips) > 0 and all(r["job_seconds"] > 0 and r["ffmpeg_seconds"] > 0 for r in rounds)
    assert [r["target"] for r in result["ratios"].values()] == [0.9]


@pytest.mark.slow
def test_input(tmp_path, capsys):
    result, _ = _run("input", tmp_path, capsys)
    assert result["data"]["clip"]["num_frames"] == 2 and result["data"]["clip"]["size"] == 46
    assert len(result["rounds"]) == result["config"]["repeats"]
    assert _positive(result["throughput"].values())
    assert result["ratios"]["input pipeline / trainer consumption"]["target"] == 20


@pytest.mark.slow
def test_train(tmp_path, capsys):
    result, printed = _run("train", tmp_path, capsys)
    assert _positive(result["throughput"].values())
    kinds = {(s["mixed_precision"], s["jit_compile"]) for s in result["sweep"]}
    assert kinds == {("none", False), ("mixed_bfloat16", False), ("none", True)}
    for s in result["sweep"]:
        assert "error" in s or (math.isfinite(s["clips_per_s"]) and s["clips_per_s"] > 0), s
    assert "mixed_bfloat16" in printed


def test_summary_prints_each_headline_figure_from_the_json_its_stage_wrote(tmp_path, capsys):
    bench = tmp_path / "bench"
    script = _load_script()
    assert script.main(["shared", "--tiny", f"--json_out={bench / 'shared.json'}"]) == 0
    shared = json.loads((bench / "shared.json").read_text())
    capsys.readouterr()
    assert script.main(["summary", f"--bench_dir={bench}"]) == 0
    printed = capsys.readouterr().out
    lines = {line.split("|")[1].strip(): line for line in printed.splitlines() if "÷" in line}
    one_pass = shared["ratios"]["one pass for all clips ÷ ffmpeg once (decoder)"]["value"]
    row = lines["10 clips cut from one long video, one pass ÷ ffmpeg decoding it once"]
    assert f"{one_pass:.3g}" in row and "shared.json" in row and "--tiny" in row
    row = lines["2 workers ÷ 1 worker"]
    assert "not measured: python scripts/benchmark.py preprocess" in row
    assert len(lines) == 5 and "GPU proxy" in printed
