"""Strategies: one step under MirroredStrategy (2 logical CPUs) and MultiWorkerMirroredStrategy
(2 worker processes on 127.0.0.1) gives the loss of one step on one device, then a short fit."""

import json
import socket
import subprocess

import pytest
import tensorflow as tf

from tests.training.conftest import PYTHON, REPO, subprocess_env
from training.strategy import check_global_batch, make_strategy, worker_info


def test_global_batch_must_divide_by_replicas():
    strategy = make_strategy("one_device")
    assert check_global_batch(6, strategy) == 6
    assert worker_info(strategy) == (True, 0)

    class TwoReplicas:
        num_replicas_in_sync = 2

    assert check_global_batch(6, TwoReplicas()) == 3
    with pytest.raises(ValueError, match="--batch_size=5 .*2 replicas"):
        check_global_batch(5, TwoReplicas())


def test_unknown_strategy():
    with pytest.raises(ValueError, match="strategy"):
        make_strategy("parameter_server")


def test_auto_is_one_device_without_gpus():
    if tf.config.list_logical_devices("GPU"):
        pytest.skip("GPUs visible")
    assert isinstance(make_strategy("auto"), tf.distribute.OneDeviceStrategy)


def driver(tmp_path, data_dir, name, strategy, model_dir="", env=None, **kw):
    args = [
        PYTHON, "-m", "tests.training.strategy_driver", f"--strategy={strategy}",
        f"--glob={data_dir}/train-*", f"--init_weights={tmp_path}/init.weights.h5",
        f"--out={tmp_path}/{name}.json", "--batch_size=4", f"--model_dir={model_dir}",
    ] + [f"--{k}={v}" for k, v in kw.items()]  # fmt: skip
    return subprocess.Popen(
        args, cwd=REPO, env=env or subprocess_env(), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def finish(proc, timeout=120):
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-3000:]


@pytest.fixture(scope="module")
def single_device(tmp_path_factory, data_dir):
    """One step on one device; also writes the initial weights the other runs start from."""
    tmp = tmp_path_factory.mktemp("strategies")
    finish(driver(tmp, data_dir, "one", "one_device"))
    return tmp, json.loads((tmp / "one.json").read_text())


def check_same_step(result, reference, replicas):
    assert result["replicas"] == replicas
    # Dropout is off, so the forward pass and the update depend only on the global batch.
    assert result["step_loss"] == pytest.approx(reference["step_loss"], rel=1e-4)
    assert result["loss_after_step"] == pytest.approx(reference["loss_after_step"], rel=1e-4)
    assert result["loss_after_step"] != pytest.approx(result["step_loss"], rel=1e-6)


@pytest.mark.slow
def test_mirrored_on_two_logical_cpus(single_device, data_dir):
    tmp, reference = single_device
    run = tmp / "mirrored_run"
    finish(driver(tmp, data_dir, "mirrored", "mirrored", str(run), logical_cpus=2))
    result = json.loads((tmp / "mirrored.json").read_text())
    check_same_step(result, reference, replicas=2)
    summary = result["summary"]  # a short real fit through trainer.train, dropout on
    assert summary["num_replicas"] == 2 and summary["global_step"] == 2
    assert (run / "model.keras").exists() and (run / "saved_model").is_dir()


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_multi_worker_with_two_processes(single_device, data_dir):
    tmp, reference = single_device
    run = tmp / "multi_worker_run"
    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(2)]}
    procs = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        env = subprocess_env(TF_CONFIG=tf_config)
        procs.append(driver(tmp, data_dir, f"worker{index}", "multi_worker", str(run), env=env))
    try:
        for proc in procs:
            finish(proc)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for index in range(2):
        result = json.loads((tmp / f"worker{index}.json").read_text())
        check_same_step(result, reference, replicas=2)
        assert result["summary"]["global_step"] == 2
    # The chief writes the run folder; the other worker writes beside it.
    assert (run / "model.keras").exists() and (run / "metrics.csv").exists()
    assert (run / ".worker-1" / "model.keras").exists()
    assert not (run / ".worker-1" / "dataset.json").exists()
    chief, other = (p.read_text() for p in (run / "metrics.csv", run / ".worker-1" / "metrics.csv"))
    assert chief == other  # epoch metrics are global, the same on every worker


def test_multi_worker_workaround_refuses_another_keras():
    from training import keras_multi_worker

    keras_multi_worker.check_keras_version()  # the installed one: the release it was written for
    with pytest.raises(RuntimeError, match=r"keras-team/keras#20585 .*Keras 3.16.0 is installed"):
        keras_multi_worker.check_keras_version("3.16.0")
