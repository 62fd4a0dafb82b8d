"""Picks the tf.distribute strategy (--strategy) and says which worker writes the run folder."""

from __future__ import annotations

import json
import logging
import os

import tensorflow as tf

from training.config import STRATEGIES

log = logging.getLogger(__name__)


def make_strategy(name: str) -> tf.distribute.Strategy:
    """auto: MirroredStrategy when more than one GPU is visible, else the one device there is.

    Call this before any other TensorFlow op: MultiWorkerMirroredStrategy must set up its
    collectives before the runtime starts, and logical CPU devices can only be split then.
    """
    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}")
    if name == "multi_worker":
        workers = count_workers(os.environ.get("TF_CONFIG", ""))
        if workers > 1:
            # Collectives over gRPC between the TF_CONFIG hosts; NCCL is chosen for GPUs itself.
            return tf.distribute.MultiWorkerMirroredStrategy()
        # One worker has nobody to synchronise with, and Keras' multi-worker path fails on it
        # (see training/keras_multi_worker.py): train on this machine's devices instead.
        log.warning(
            "--strategy=multi_worker with %s: training on this machine alone, as --strategy=auto",
            "one worker in TF_CONFIG" if workers else "no TF_CONFIG set",
        )
        name = "auto"
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto" and len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    if name == "mirrored":
        # Without GPUs MirroredStrategy() would take CPU:0 only; logical CPUs (tests) count here.
        devices = gpus or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    device = gpus[0].name if gpus else "/cpu:0"
    return tf.distribute.OneDeviceStrategy(device)


def count_workers(tf_config: str) -> int:
    """Training tasks (chief and workers) in a TF_CONFIG value; 0 when it is empty.

    Checked here because TensorFlow's own errors on a bad TF_CONFIG name neither the variable
    nor what was expected.
    """
    if not tf_config.strip():
        return 0
    example = (
        '{"cluster": {"worker": ["host1:port", "host2:port"]}, '
        '"task": {"type": "worker", "index": 0}}'
    )
    try:
        value = json.loads(tf_config)
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not JSON ({e}); expected e.g. {example}") from e
    cluster = value.get("cluster") if isinstance(value, dict) else None
    task = value.get("task") if isinstance(value, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise ValueError(
            f"TF_CONFIG needs 'cluster' and 'task' objects, got {tf_config!r}; expected e.g. "
            f"{example}"
        )
    tasks = cluster.get(task.get("type"), [])
    if not isinstance(task.get("index"), int) or not 0 <= task["index"] < len(tasks):
        raise ValueError(
            f"TF_CONFIG's task {task} is not one of the cluster's {sorted(cluster)} hosts"
        )
    return sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))


def worker_info(strategy: tf.distribute.Strategy) -> tuple[bool, int]:
    """(is_chief, task_id): only the chief writes the run folder; other workers write beside it."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True, 0
    task_type, task_id = resolver.task_type, resolver.task_id or 0
    if task_type in (None, "chief"):
        return True, task_id
    has_chief = "chief" in json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    return (task_type == "worker" and task_id == 0 and not has_chief), task_id


def check_global_batch(batch_size: int, strategy: tf.distribute.Strategy) -> int:
    """--batch_size is global; returns the per-replica batch, or fails naming the flag.

    TrainConfig has checked that it is positive; only the strategy knows the replicas.
    """
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ValueError(
            f"--batch_size={batch_size} is the global batch and must be a positive multiple of "
            f"the {replicas} replicas in sync"
        )
    return batch_size // replicas
