"""Making the tf.distribute strategy a run asks for (``--strategy``, ``--replicas``).

- ``mirrored``: one process, ``--replicas`` devices: GPUs when there are that many, else logical
  CPU devices carved out of the one CPU (stated in the report: they share its cores).
- ``multiworker``: one process per worker, found through ``TF_CONFIG`` (the cluster's worker
  addresses and this worker's index), each worker with its own GPUs or its CPU; the collectives
  run over gRPC. ``python -m tfprof_m1 launch`` starts N local workers for a rehearsal.

Both must be made before TensorFlow initialises its devices (before any tensor exists).
"""

from __future__ import annotations

import json
import os
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from tfprof_m1.base.errors import UserError
from tfprof_m1.base.tf_types import Strategy

__all__ = ["STRATEGIES", "Distribution", "StrategyChoice", "make_strategy", "parse_tf_config"]


@dataclass
class Distribution:
    """How a run was spread over replicas with tf.distribute (None on a ModelRun: one device)."""

    #: ``mirrored`` (one process, several devices) or ``multiworker`` (one process per worker).
    strategy: str
    #: Replicas in sync over every worker: each takes ``per_replica_batch`` examples of a step.
    replicas: int
    #: This process's replica devices, e.g. ``/job:localhost/replica:0/task:0/device:CPU:1``.
    devices: list[str]
    per_replica_batch: int
    #: The replicas are logical devices carved out of one CPU (there were not enough GPUs): they share
    #: that CPU's cores, so their scaling shows the strategy's cost, not a second device's gain.
    logical_cpu_devices: bool = False
    #: Multi-worker: this worker's index and the cluster's worker addresses.
    worker: int | None = None
    workers: list[str] = field(default_factory=list)


STRATEGIES = ("one", "mirrored", "multiworker")
#: A collective that waits longer than this for a worker fails instead of hanging (a worker that died
#: or was stopped leaves its peers waiting in the all-reduce otherwise).
COLLECTIVE_TIMEOUT_S = 120.0


@dataclass
class StrategyChoice:
    """The strategy (None: one device, no tf.distribute) and how the report describes it."""

    strategy: Strategy | None
    distribution: Distribution | None

    def scope(self) -> AbstractContextManager[object]:
        """The strategy's scope for building models and optimizers (a null context without one)."""
        import contextlib

        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()


def parse_tf_config(text: str | None) -> tuple[list[str], int]:
    """(worker addresses, this worker's index) from ``TF_CONFIG``.

    Raises:
        UserError: missing, not JSON, or not a worker of its own cluster (one line saying what to set).
    """
    where = "TF_CONFIG"
    if not text:
        raise UserError(
            f"--strategy multiworker: {where} is not set; each worker needs it "
            '(e.g. {"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
            '"task": {"type": "worker", "index": 0}}), '
            "or rehearse locally with: python -m tfprof_m1 launch --workers 2 MODEL"
        )
    try:
        config = json.loads(text)
        workers = config["cluster"]["worker"]
        task = config["task"]
        index = task["index"]
        if not isinstance(workers, list) or not isinstance(index, int) or isinstance(index, bool):
            raise TypeError("cluster.worker must be a list of addresses and task.index a whole number")
    except (ValueError, KeyError, TypeError) as error:
        raise UserError(
            f"--strategy multiworker: {where} is not a cluster spec with a worker task ({error}); "
            'expected {"cluster": {"worker": [...]}, "task": {"type": "worker", "index": N}}'
        ) from None
    if task.get("type") != "worker" or set(config["cluster"]) != {"worker"}:
        raise UserError(
            f"--strategy multiworker: {where} task {task!r} in a cluster of "
            f"{', '.join(map(repr, config['cluster']))} is not one of the {len(workers)} workers it lists: "
            "tfprof_m1's clusters have workers only (no chief or parameter servers); "
            'give {"type": "worker", ...}'
        )
    if not 0 <= index < len(workers) or not all(isinstance(w, str) and ":" in w for w in workers):
        raise UserError(
            f"--strategy multiworker: {where} task {task!r} is not one of the {len(workers)} workers it lists"
        )
    return workers, index


def make_strategy(kind: str, replicas: int, per_replica_batch: int) -> StrategyChoice:
    """Create the strategy for ``--strategy kind --replicas N`` (before any tensor exists).

    Raises:
        UserError: unknown strategy, bad replica count, missing TF_CONFIG, or devices already initialised.
    """
    if kind not in STRATEGIES:
        raise UserError(f"--strategy {kind!r}: choose one of {', '.join(STRATEGIES)}")
    if kind == "one":
        return StrategyChoice(None, None)
    import tensorflow as tf

    if kind == "mirrored":
        if replicas < 1:
            raise UserError(f"--replicas {replicas}: must be 1 or more")
        gpus = tf.config.get_visible_devices("GPU")
        logical = len(gpus) < replicas
        if logical:
            cpu = tf.config.list_physical_devices("CPU")[0]
            try:
                tf.config.set_logical_device_configuration(
                    cpu, [tf.config.LogicalDeviceConfiguration()] * replicas
                )
            except RuntimeError:
                raise UserError(
                    f"--replicas {replicas}: TensorFlow already initialised its devices in this process; "
                    "choose the strategy before making any tensor"
                ) from None
            devices = [f"/CPU:{index}" for index in range(replicas)]
        else:
            devices = [f"/GPU:{index}" for index in range(replicas)]
        strategy = tf.distribute.MirroredStrategy(devices)
        return StrategyChoice(
            strategy,
            Distribution(
                strategy="mirrored",
                replicas=int(strategy.num_replicas_in_sync),
                devices=list(strategy.extended.worker_devices),
                per_replica_batch=per_replica_batch,
                logical_cpu_devices=logical,
            ),
        )
    workers, index = parse_tf_config(os.environ.get("TF_CONFIG"))
    strategy = tf.distribute.MultiWorkerMirroredStrategy(
        communication_options=tf.distribute.experimental.CommunicationOptions(
            timeout_seconds=COLLECTIVE_TIMEOUT_S
        )
    )
    return StrategyChoice(
        strategy,
        Distribution(
            strategy="multiworker",
            replicas=int(strategy.num_replicas_in_sync),
            devices=list(strategy.extended.worker_devices),
            per_replica_batch=per_replica_batch,
            logical_cpu_devices=False,
            worker=index,
            workers=workers,
        ),
    )
