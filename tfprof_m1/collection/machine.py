"""What machine is this? Small collectors that never fail, and the device label a person reads.

Nothing here imports TensorFlow: each collector takes what the OS offers and returns None when it
cannot tell. :func:`device_label` is a pure function of recorded facts, so the Metal and CUDA paths
are tested with details recorded on those machines.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path

__all__ = ["cpu_model", "device_label", "installed_version", "memory_gb", "on_colab"]


def cpu_model() -> str | None:
    """The CPU's marketing name: /proc/cpuinfo on Linux, sysctl on macOS, else platform's guess."""
    try:
        if sys.platform.startswith("linux"):
            for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip() or None
        if sys.platform == "darwin":
            result = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, timeout=5
            )
            if result.returncode == 0 and result.stdout.strip():
                return result.stdout.strip()
    except (OSError, subprocess.SubprocessError, IndexError):
        pass
    return platform.processor() or None


def memory_gb() -> float | None:
    """Physical memory in GiB."""
    try:
        if sys.platform == "darwin":
            result = subprocess.run(["sysctl", "-n", "hw.memsize"], capture_output=True, text=True, timeout=5)
            return int(result.stdout.strip()) / 2**30
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (OSError, ValueError, AttributeError, subprocess.SubprocessError):
        return None


def installed_version(distribution: str) -> str | None:
    """Version of an installed distribution (e.g. ``tensorflow-metal``), or None."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def on_colab(environ: Mapping[str, str] | None = None, modules: Mapping[str, object] | None = None) -> bool:
    """True inside Google Colab (its runtime sets COLAB_* variables and ships google.colab)."""
    environ = os.environ if environ is None else environ
    modules = sys.modules if modules is None else modules
    return "google.colab" in modules or any(key.startswith("COLAB_") for key in environ)


def device_label(
    device_kind: str,
    gpus: Sequence[Mapping[str, str | None]],
    system: str,
    tensorflow_metal: str | None,
    cpu: str | None = None,
) -> str:
    """``cpu``, ``cuda:<name>`` or ``metal:<name>``: the name a comparison shows for a run.

    Args:
        device_kind: ``cpu`` or ``gpu``: what the run used.
        gpus: per visible GPU, its ``get_device_details`` (``device_name``, ``compute_capability``).
        system: ``platform.system()``.
        tensorflow_metal: the installed tensorflow-metal version, or None.
        cpu: the CPU model; an Apple GPU is part of the SoC, so it names a Metal GPU that reports
            no name of its own.
    """
    if device_kind != "gpu" or not gpus:
        return "cpu"
    details = gpus[0]
    name = details.get("device_name") or None
    if details.get("compute_capability") is not None:
        return f"cuda:{name or 'GPU'}"
    if system == "Darwin" or tensorflow_metal:
        if not name or name.upper() == "METAL":
            name = cpu or "Apple GPU"
        return f"metal:{name}"
    return f"gpu:{name or 'GPU'}"
