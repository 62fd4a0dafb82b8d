"""The wheel and sdist hold only what the jobs need: no benchmark code ships (issue 13, item 4).

Dataflow installs the distribution on every worker (--setup_file), and `pip install .` on every
user's machine; benchmark modules belong to the repository only (benchmarks/, scripts/).
The distributions are built from a copy of the tree with setuptools' PEP 517 backend, the one
pip calls, without build isolation or network: a few seconds.
"""

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JUNK = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis")
BUILD = """
import sys
from setuptools import build_meta
out = sys.argv[1]  # read once: build_meta rewrites sys.argv
names = [build_meta.build_wheel(out), build_meta.build_sdist(out)]
print("BUILT", *names)
"""


def _build(tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(REPO, tree, ignore=shutil.ignore_patterns(*JUNK), symlinks=True)
    out = tmp_path / "dist"
    out.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", BUILD, str(out)],
        cwd=tree, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    built = [line for line in done.stdout.splitlines() if line.startswith("BUILT ")]
    wheel_name, sdist_name = built[-1].split()[1:]
    with zipfile.ZipFile(out / wheel_name) as z:
        wheel = z.namelist()
    with tarfile.open(out / sdist_name) as t:
        sdist = [name.split("/", 1)[1] for name in t.getnames() if "/" in name]
    return wheel, sdist


def test_distributions_ship_the_jobs_and_no_benchmark(tmp_path):
    wheel, sdist = _build(tmp_path)
    py_wheel = {n for n in wheel if n.endswith(".py")}
    py_sdist = {n for n in sdist if n.endswith(".py")}
    # What the console scripts and the Dataflow workers import is there...
    for needed in ("preprocess/cli.py", "preprocess/pipeline.py", "training/trainer.py",
                   "training/model.py", "schemas/features.py"):  # fmt: skip
        assert needed in py_wheel, (needed, sorted(py_wheel))
        assert needed in py_sdist, (needed, sorted(py_sdist))
    # ...and no benchmark module, wherever it would sit.
    assert not [n for n in py_wheel | py_sdist if "bench" in n.lower()], sorted(py_wheel | py_sdist)
    assert {n.split("/")[0] for n in py_wheel} <= {"preprocess", "schemas", "training"}
