"""Whether a piece of code loads TensorFlow, asked of a fresh interpreter: the preprocess job's
start-up depends on its modules never importing it (docs/design.md, "No TensorFlow in a local
job"), and a test process has usually loaded it already."""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def loads_tensorflow(code: str) -> bool:
    """Runs `code` in a new Python at the repository root; True if it left TensorFlow imported."""
    probe = code + "\nimport sys\nprint('TENSORFLOW', 'tensorflow' in sys.modules)\n"
    env = dict(os.environ, PYTHONPATH=REPO)
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=REPO
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1] == "TENSORFLOW True"
