"""The training commands at the console: --help without TensorFlow, console scripts alike,
misspelt flags refused, a quiet start, one-line errors (tracebacks with --verbosity=debug), and
Ctrl-C (a real SIGINT) leaving one line, no process and a resumable run."""

import json
import os
import re
import signal
import subprocess

import psutil
import pytest

from tests.training.conftest import PYTHON, REPO, subprocess_env
from tests.waiting import wait_until
from training import console

COMMANDS = ["training", "training.evaluate", "training.predict", "training.curves"]
ENTRY_POINTS = {
    "training": "training.__main__",
    "training.evaluate": "training.evaluate",
    "training.predict": "training.predict",
    "training.curves": "training.curves",
}
# Run in the child after --help: which flags the help listed, and whether TensorFlow was loaded.
HELP_PROBE = """
import sys
from absl import flags
try:
    {start}
except SystemExit:
    pass
fv = flags.FLAGS
key = fv.get_key_flags_for_module(sys.argv[0])
print("PROBE", {{"tf": "tensorflow" in sys.modules, "flags": sorted(f.name for f in key),
       "defaults": sum(f.default is not None for f in key)}})
"""


def quiet_env(**extra):
    env = subprocess_env(**extra)
    env.pop("TF_CPP_MIN_LOG_LEVEL")  # what a user's shell has: the commands must quiet TF
    env.pop("PYTHONWARNINGS")
    return env


def help_of(start, argv0):
    code = f"import sys; sys.argv[0] = {argv0!r}\n" + HELP_PROBE.format(start=start)
    proc = subprocess.run(
        [PYTHON, "-c", code, "--help"], cwd=REPO, env=quiet_env(), capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    probe = [line for line in proc.stdout.splitlines() if line.startswith("PROBE ")]
    assert probe, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout, eval(probe[0][6:])


@pytest.mark.parametrize("command", COMMANDS)
def test_help_lists_every_flag_with_its_default_without_tensorflow(command):
    start = f"import runpy; runpy.run_module({command!r}, run_name='__main__')"
    out, probe = help_of(start, os.path.join(REPO, *command.split("."), "__main__.py"))
    assert not probe["tf"], "--help imported TensorFlow"
    assert "verbosity" in probe["flags"] and len(probe["flags"]) >= 4
    for name in probe["flags"]:
        assert re.search(rf"--(\[no\])?{name}:", out), name
    assert out.count("(default:") >= probe["defaults"]


@pytest.mark.parametrize("command", COMMANDS)
def test_console_script_help_is_the_same(command):
    """As setuptools' aslvid2gloss-* scripts run it: argv[0] is the script, main is a wrapper."""
    module = ENTRY_POINTS[command]
    start = f"from {module} import console_main; console_main()"
    out, probe = help_of(start, f"/venv/bin/aslvid2gloss-{command.split('.')[-1]}")
    as_module, module_probe = help_of(
        f"import runpy; runpy.run_module({command!r}, run_name='__main__')", "x/__main__.py"
    )
    assert probe["flags"] == module_probe["flags"] and not probe["tf"]
    assert out.split("PROBE")[0].count("(default:") == as_module.split("PROBE")[0].count(
        "(default:"
    )


def test_misspelt_flag_is_refused():
    proc = subprocess.run(
        [PYTHON, "-m", "training", "--tfrecord_glob=x", "--model_dir=y", "--batch_sise=4"],
        cwd=REPO, env=quiet_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "Unknown command line flag 'batch_sise'" in proc.stderr
    assert "batch_size" in proc.stderr  # absl suggests the real flag


def test_error_is_one_line_and_debug_shows_traceback_and_tensorflow_logs(tmp_path):
    cmd = [PYTHON, "-m", "training.evaluate", f"--model_dir={tmp_path}", "--tfrecord_glob=x"]
    quiet = subprocess.run(cmd, cwd=REPO, env=quiet_env(), capture_output=True, text=True,
                           timeout=120)  # fmt: skip
    assert quiet.returncode == 2
    assert quiet.stderr.strip().splitlines() == [
        f"error: {tmp_path}/model.keras not found: expected the model of a finished training run"
    ]
    debug = subprocess.run(cmd + ["--verbosity=debug"], cwd=REPO, env=quiet_env(),
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert debug.returncode != 0 and "Traceback" in debug.stderr
    assert "FileNotFoundError" in debug.stderr
    assert "absl::InitializeLog" in debug.stderr or "I0000" in debug.stderr


def test_describe_keeps_the_cause():
    try:
        try:
            raise OSError("unable to open file: truncated")
        except OSError as e:
            raise ValueError("RUN/backup: cannot restore the checkpoint") from e
    except ValueError as e:
        line = console.describe(e)
    assert line == (
        "RUN/backup: cannot restore the checkpoint (caused by OSError: unable to open file: "
        "truncated)"
    )
    assert console.translate_verbosity(["--verbosity=debug", "-v=info", "--x=debug"]) == [
        "--verbosity=1",
        "-v=0",
        "--x=debug",
    ]


def train_command(data_dir, model_dir, *extra):
    return [
        PYTHON, "-m", "training", f"--tfrecord_glob={data_dir}/train-*",
        f"--model_dir={model_dir}", "--batch_size=4", *extra,
    ]  # fmt: skip


@pytest.mark.slow
def test_training_console_is_quiet(tmp_path, data_dir):
    proc = subprocess.run(
        train_command(data_dir, tmp_path, "--epochs=1", "--steps_per_epoch=2",
                      f"--val_tfrecord_glob={data_dir}/val-*"),
        cwd=REPO, env=quiet_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    for noise in ("absl::InitializeLog", "I0000", "oneDNN", "cuda", "cpu_feature_guard",
                  "Writing fingerprint", "Warning:", "WARNING:"):  # fmt: skip
        assert noise not in out, f"{noise!r} in the output:\n{out[-3000:]}"
    assert "Training epochs 1-1, 2 steps each" in proc.stderr  # our own lines stay
    assert json.loads(proc.stdout[proc.stdout.index("{") :])["global_step"] == 2


@pytest.mark.slow
def test_sigint_prints_one_line_leaves_no_process_and_the_same_command_resumes(tmp_path, data_dir):
    cmd = train_command(data_dir, tmp_path, "--epochs=2", "--steps_per_epoch=10",
                        "--checkpoint_every_steps=2", "--verbose=0")  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=REPO, env=quiet_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    state = os.path.join(tmp_path, "backup", "checkpoint")
    wait_until(lambda: os.path.exists(state) or proc.poll() is not None, 180, "a checkpoint")
    assert proc.poll() is None, "finished or failed before the first checkpoint"
    family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == console.INTERRUPTED
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    last = err.strip().splitlines()[-1]
    match = re.fullmatch(rf"interrupted: the same command resumes {tmp_path} from its "
                         r"checkpoint at step (\d+)", last)  # fmt: skip
    assert match, err[-2000:]
    wait_until(lambda: not [p for p in family if _alive(p)], 30, "every process of the run to end")

    done = subprocess.run(cmd, cwd=REPO, env=quiet_env(), capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout[done.stdout.index("{") :])
    assert summary["resumed_from_step"] == int(match.group(1)) > 0
    assert summary["global_step"] == 20


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
