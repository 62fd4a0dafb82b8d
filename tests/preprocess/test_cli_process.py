"""`python -m preprocess` as a person runs it: a typo refused at once, help without TensorFlow,
the console script the same command, Ctrl-C mid-run."""

import os
import re
import signal
import subprocess
import sys

import psutil
import pytest

from preprocess.synthetic import SyntheticConfig, make_dataset
from tests.preprocess.held_run import POISON, held_dataset, wait_for_held_clip

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_misspelt_flag_exits_2_before_anything_runs(tmp_path):
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "preprocess", f"--manifest={tmp_path}", f"--output_dir={out}",
         "--top_k_gloses=100"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip().splitlines()[0]], "one line"
    assert "unknown flag --top_k_gloses=100 (did you mean --top_k_glosses?)" in result.stderr
    assert not out.exists()


def test_console_script_is_python_m_preprocess_and_help_skips_tensorflow():
    with open(os.path.join(REPO, "setup.py")) as f:
        (entry,) = re.findall(r'"aslvid2gloss-preprocess=([\w.:]+)"', f.read())
    module, function = entry.split(":")
    assert module == "preprocess.__main__"  # what `python -m preprocess` runs
    # What the generated console script does, then whether TensorFlow was loaded.
    code = (
        f"import sys; from {module} import {function} as main\n"
        "sys.argv = ['aslvid2gloss-preprocess', '--help']\n"
        "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
        "print('EXIT', code, 'tensorflow' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert result.stdout.strip().endswith("EXIT 0 False"), result.stdout[-500:] + result.stderr
    assert "--top_k_glosses" in result.stdout and "(default: 20)" in result.stdout
    assert result.stderr == ""


def _descendants(pid):
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@pytest.mark.slow
def test_ctrl_c_says_what_a_rerun_does_and_leaves_no_worker(tmp_path):
    # One clip is held (never released here): the run is surely mid-run when interrupted.
    config = SyntheticConfig(num_classes=2, clips_per_class=2, width=32, height=32, seed=5)
    manifest, videos, held = held_dataset(tmp_path / "data", config, instance_id=9)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "preprocess", f"--manifest={manifest}",
         f"--video_dir={videos}", f"--output_dir={out}", "--num_frames=4", "--size=16",
         f"--decoder={POISON}", "--direct_running_mode=multi_processing",
         "--direct_num_workers=1"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    # Interrupted while a worker sits on the held clip (the test decoder marks that point).
    wait_for_held_clip(proc, held, 180)
    decoding = [
        p for p in _descendants(proc.pid) if "preprocess.video.isolation" in " ".join(p.cmdline())
    ]
    assert decoding, "the job never started decoding"
    workers = _descendants(proc.pid)
    assert any("sdk_worker_main" in " ".join(p.cmdline()) for p in workers), "no worker process"
    os.kill(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"interrupted: {out} holds an unfinished run")
    assert "the same command again starts it over" in last
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"left running: {[p.cmdline() for p in alive]}"
    assert "dataset.json" not in os.listdir(out)


def test_a_local_job_loads_no_tensorflow_and_its_folder_is_still_a_tfds_dataset(tmp_path):
    """TensorFlow's import and exit were a fifth of a 500-clip job; records, shards, files and
    TFDS's metadata no longer need it."""
    manifest = make_dataset(
        str(tmp_path / "data"),
        SyntheticConfig(num_classes=2, clips_per_class=4, width=32, height=32, seed=3),
    )
    out = tmp_path / "out"
    code = (
        "import sys; from preprocess.__main__ import main\n"
        f"sys.argv = ['preprocess', '--manifest={manifest}', "
        f"'--video_dir={tmp_path / 'data' / 'videos'}', '--output_dir={out}', '--num_frames=4']\n"
        "code = main()\n"
        "print('EXIT', code, 'tensorflow' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert result.stdout.strip().endswith("EXIT 0 False"), result.stdout[-800:] + result.stderr
    assert "TFDS: tfds.builder_from_directory" in result.stdout
    assert "warning" not in result.stderr.lower(), result.stderr

    import tensorflow_datasets as tfds

    from schemas import dataset_info

    builder = tfds.builder_from_directory(str(out))
    info = dataset_info.read_dataset_info(str(out))
    assert builder.info.features["label"].names == dataset_info.read_labels(str(out))
    assert {s: builder.info.splits[s].num_examples for s in info.splits} == {
        s: entry["examples"] for s, entry in info.splits.items()
    }
    (first,) = builder.as_dataset(split="train").take(1).as_numpy_iterator()
    assert first["frames"].shape == (4, 150, 150, 3)
