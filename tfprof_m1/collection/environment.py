"""Device choice and the environment basics a report carries.

Each ``collect`` helper skips what it cannot read instead of failing the run.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tfprof_m1 import __version__
from tfprof_m1.base.errors import UserError
from tfprof_m1.collection.fence import visible_gpu_details
from tfprof_m1.collection.machine import cpu_model, device_label, installed_version, memory_gb, on_colab
from tfprof_m1.collection.peak import measure_matmul_peak

__all__ = [
    "DEVICE_CHOICES",
    "DeviceChoice",
    "Environment",
    "collect_environment",
    "configure_device",
    "default_device",
    "set_async_executor",
]


@dataclass
class GpuInfo:
    """One visible GPU as TensorFlow describes it."""

    name: str
    device_name: str | None = None
    compute_capability: str | None = None


@dataclass
class Environment:
    """The machine a report was measured on: versions, devices, the device label comparisons use."""

    python: str
    platform: str
    machine: str
    cpu_count: int | None
    tensorflow: str
    keras: str
    numpy: str
    tfprof_m1: str
    devices_seen: list[str]
    device_used: str
    device_kind: str
    #: ``cpu``, ``cuda:<name>`` or ``metal:<name>``: how comparisons name this run's device.
    device_label: str = "cpu"
    os: str | None = None
    cpu_model: str | None = None
    memory_gb: float | None = None
    tensorflow_metal: str | None = None
    metal_plugin_loaded: bool | None = None
    gpus: list[GpuInfo] = field(default_factory=list)
    #: TensorFlow's build information: cuda_version, cudnn_version, is_cuda_build, ...
    build: dict[str, str] = field(default_factory=dict)
    colab: bool = False
    #: float32 matmul throughput measured on the device used (None: probe skipped or failed).
    matmul_peak_gflops: float | None = None
    collected: str | None = None
    #: Whether TensorFlow's eager executor ran asynchronously.
    executor_async: bool = False


DEVICE_CHOICES = ("auto", "cpu", "gpu")
T = TypeVar("T")


@dataclass(frozen=True)
class DeviceChoice:
    """The device a run uses (``--device``), as TensorFlow names it, and its kind."""

    name: str  # the TensorFlow device the run uses, e.g. "/GPU:0"
    kind: str  # "cpu" or "gpu"


def configure_device(choice: str) -> DeviceChoice:
    """Apply ``--device``: ``cpu`` hides every GPU (as the article's CPU runs), ``gpu`` requires one.

    Must run before TensorFlow initialises its devices (before any tensor is made).

    Raises:
        UserError: unknown choice, ``gpu`` with no GPU, or devices already initialised.
    """
    if choice not in DEVICE_CHOICES:
        raise UserError(f"--device {choice!r}: choose one of {', '.join(DEVICE_CHOICES)}")
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if choice == "cpu":
        if gpus:
            try:
                tf.config.set_visible_devices([], "GPU")
            except RuntimeError:
                raise UserError(
                    "--device cpu: TensorFlow already initialised its GPUs "
                    "in this process; choose the device before making any tensor"
                ) from None
        return DeviceChoice("/CPU:0", "cpu")
    visible = tf.config.get_visible_devices("GPU")
    if choice == "gpu" and not visible:
        raise UserError(
            "--device gpu: TensorFlow sees no GPU; on Apple Silicon install the metal extra "
            "(pip install 'tfprof-m1[metal]'), on Linux a CUDA build, or use --device cpu"
        )
    if visible:
        return DeviceChoice("/GPU:0", "gpu")
    return DeviceChoice("/CPU:0", "cpu")


def default_device() -> DeviceChoice:
    """The device TensorFlow places work on by default in this process (changes nothing)."""
    import tensorflow as tf

    if tf.config.get_visible_devices("GPU"):
        return DeviceChoice("/GPU:0", "gpu")
    return DeviceChoice("/CPU:0", "cpu")


def _safe(read: Callable[[], T], default: T) -> T:
    try:
        return read()
    except Exception:  # metadata is best effort: a missing field never fails a run
        return default


def _devices_seen() -> list[str]:
    import tensorflow as tf

    return [f"{device.device_type}:{device.name}" for device in tf.config.list_physical_devices()]


def _gpus() -> list[GpuInfo]:
    gpus = []
    for name, details in visible_gpu_details():
        capability = details.get("compute_capability")
        gpus.append(
            GpuInfo(
                name=name,
                device_name=details.get("device_name"),
                compute_capability=".".join(str(part) for part in capability) if capability else None,
            )
        )
    return gpus


def _build_info() -> dict[str, str]:
    import tensorflow as tf

    return {key: str(value) for key, value in tf.sysconfig.get_build_info().items()}


def set_async_executor(enabled: bool) -> None:
    """Make TensorFlow's eager executor asynchronous (process-wide; before any work).

    A call then returns once its work is queued and a host read waits for it: the shape of a GPU,
    on any device. ``--async-executor`` uses it to rehearse GPU-style asynchrony on a CPU.
    """
    import tensorflow as tf

    tf.config.experimental.set_synchronous_execution(not enabled)


def executor_is_async() -> bool:
    """Whether TensorFlow's eager executor is asynchronous now (calls return before their work is done)."""
    import tensorflow as tf

    return not tf.config.experimental.get_synchronous_execution()


def collect_environment(device: DeviceChoice, peak: bool = True) -> Environment:
    """Versions, machine and devices of this process (imports TensorFlow).

    Args:
        device: the device the run uses.
        peak: measure the device's matmul peak (a fraction of a second); False skips it.
    """
    import keras
    import numpy
    import tensorflow as tf

    cpu = cpu_model()
    metal = installed_version("tensorflow-metal")
    gpus: list[GpuInfo] = _safe(_gpus, [])
    system = platform.system()
    details = [{"device_name": g.device_name, "compute_capability": g.compute_capability} for g in gpus]
    return Environment(
        python=platform.python_version(),
        platform=_safe(platform.platform, sys.platform),
        machine=platform.machine(),
        cpu_count=os.cpu_count(),
        tensorflow=tf.__version__,
        keras=_safe(lambda: keras.__version__, "unknown"),
        numpy=numpy.__version__,
        tfprof_m1=__version__,
        devices_seen=_safe(_devices_seen, []),
        device_used=device.name,
        device_kind=device.kind,
        device_label=device_label(device.kind, details, system, metal, cpu),
        os=f"{system} {platform.release()}".strip(),
        cpu_model=cpu,
        memory_gb=memory_gb(),
        tensorflow_metal=metal,
        metal_plugin_loaded=(bool(gpus) and system == "Darwin") if metal else None,
        gpus=gpus,
        build=_safe(_build_info, {}),
        colab=on_colab(),
        matmul_peak_gflops=_safe(lambda: measure_matmul_peak(device.name), None) if peak else None,
        collected=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        executor_async=_safe(executor_is_async, False),
    )
