"""Training curves PNG from a run folder's metrics.csv."""

import subprocess

import numpy as np
import pytest
from PIL import Image

from tests.training.conftest import PYTHON, REPO, subprocess_env
from training import curves

CSV = """epoch,accuracy,loss,val_accuracy,val_loss
1,0.25,1.5,0.3,1.4
2,0.5,1.1,0.45,1.2
2,0.55,1.0,0.5,1.1
3,0.8,0.6,0.7,0.8
"""


def test_reads_columns_and_a_resumed_epoch_keeps_its_last_row(tmp_path):
    (tmp_path / "metrics.csv").write_text(CSV)
    metrics = curves.read_metrics(str(tmp_path))
    assert metrics["epoch"] == [1, 2, 3]
    assert metrics["loss"] == [1.5, 1.0, 0.6] and metrics["val_accuracy"] == [0.3, 0.5, 0.7]


def test_writes_a_png_with_two_panels(tmp_path):
    (tmp_path / "metrics.csv").write_text(CSV)
    out = str(tmp_path / "curves.png")
    curves.plot_curves(curves.read_metrics(str(tmp_path)), out, title="run")
    image = np.asarray(Image.open(out).convert("RGB"))
    assert image.shape == (340, 900, 3)
    assert (image.std(axis=2) > 30).sum() > 200, "coloured lines were drawn"


@pytest.mark.parametrize(
    "text, message", [(None, "metrics.csv not found"), ("a,b\n1,2\n", "epoch and loss"),
                      ("epoch,loss\n1,oops\n", "row 2")],
)  # fmt: skip
def test_bad_metrics_files(tmp_path, text, message):
    if text is not None:
        (tmp_path / "metrics.csv").write_text(text)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        curves.read_metrics(str(tmp_path))


def test_png_into_a_folder_that_does_not_exist(tmp_path):
    (tmp_path / "metrics.csv").write_text(CSV)
    out = tmp_path / "new" / "deeper" / "curves.png"
    curves.plot_curves(curves.read_metrics(str(tmp_path)), str(out))
    assert Image.open(out).size == (900, 340)


@pytest.mark.slow
def test_cli_writes_the_png(smoke_run_dir, tmp_path):
    out = str(tmp_path / "not_yet" / "c.png")
    proc = subprocess.run(
        [PYTHON, "-m", "training.curves", f"--model_dir={smoke_run_dir}", f"--out={out}"],
        cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "wrote" in proc.stdout and Image.open(out).size == (900, 340)


@pytest.fixture
def smoke_run_dir(tmp_path):
    """A run folder's metrics.csv as the trainer's MetricsCsv writes it."""
    (tmp_path / "metrics.csv").write_text(CSV)
    return str(tmp_path)
