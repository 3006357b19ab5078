"""Device choice and the environment basics a report carries.

Each ``collect`` helper skips what it cannot read instead of failing the run.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from typing import Callable, TypeVar

from tfprof_m1 import __version__
from tfprof_m1.errors import UserError
from tfprof_m1.report import Environment

DEVICE_CHOICES = ("auto", "cpu", "gpu")
T = TypeVar("T")


@dataclass(frozen=True)
class DeviceChoice:
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
                raise UserError("--device cpu: TensorFlow already initialised its GPUs in this process; choose the device before making any tensor") from None
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


def _safe(read: Callable[[], T], default: T) -> T:
    try:
        return read()
    except Exception:  # metadata is best effort: a missing field never fails a run
        return default


def _devices_seen() -> list[str]:
    import tensorflow as tf

    return [f"{device.device_type}:{device.name}" for device in tf.config.list_physical_devices()]


def collect_environment(device: DeviceChoice) -> Environment:
    """Versions and devices of this process (TensorFlow is imported)."""
    import keras
    import numpy
    import tensorflow as tf

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
    )
