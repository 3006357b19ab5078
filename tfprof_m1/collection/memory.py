"""Memory per epoch: the process's resident set on the host, and the device allocator's current and
peak bytes where TensorFlow reports them.

Sampled once after each epoch, outside its timing. ``tf.config.experimental.get_memory_info``
raises on a CPU ("Allocator stats not available") and returns zeros on PluggableDevices such as
tensorflow-metal; both are said, not shown as 0 MB. :func:`interpret_device_info` turns what the API
gave into figures and is driven by recorded answers in tests (a GPU's answer cannot be produced
here).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["MemoryUse", "growth_warning", "host_rss_mb", "interpret_device_info", "sample_memory"]


@dataclass
class MemoryUse:
    """Memory after an epoch, in MiB; None where the platform or device does not tell."""

    host_rss_mb: float | None
    device_current_mb: float | None = None
    device_peak_mb: float | None = None


MB = 2**20
#: Growth per epoch flagged when above this many MB and this share of the first steady value.
GROWTH_MB_PER_EPOCH = 5.0
GROWTH_SHARE_PER_EPOCH = 0.005


def host_rss_mb() -> float | None:
    """The process's resident set now (Linux ``/proc/self/statm``); None elsewhere (macOS gives only
    the peak, which cannot show growth that has stopped)."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / MB
    except (OSError, ValueError, IndexError):
        return None


def interpret_device_info(
    answer: Mapping[str, int] | BaseException, device: str = "GPU:0"
) -> tuple[float | None, float | None, str | None]:
    """(current MiB, peak MiB, note) from what ``get_memory_info(device)`` returned, or the exception
    it raised.

    Builds differ on a CPU: most raise ("Allocator stats not available"), some (seen on AMD EPYC
    Linux) answer bytes, zeros in a fresh process; bytes are figures either way. Zeros from a GPU are
    a PluggableDevice that does not track memory (tensorflow-metal); zeros from a CPU are said as such.
    """
    if isinstance(answer, BaseException):
        text = str(answer).strip().splitlines()
        return (
            None,
            None,
            f"device memory not reported by TensorFlow here ({text[0] if text else type(answer).__name__})",
        )
    current, peak = answer.get("current", 0), answer.get("peak", 0)
    if not current and not peak:
        if device.upper().startswith("CPU"):
            return None, None, f"device memory: TensorFlow's {device} allocator reports no bytes in use"
        return (
            None,
            None,
            "device memory reported as zero (PluggableDevices such as tensorflow-metal do not track it)",
        )
    return current / MB, peak / MB, None


def memory_device() -> str:
    """The device whose allocator to ask: the first GPU TensorFlow sees, else the CPU."""
    tf = sys.modules.get("tensorflow")
    if tf is not None and tf.config.list_logical_devices("GPU"):
        return "GPU:0"
    return "CPU:0"


def sample_memory() -> tuple[MemoryUse, str | None]:
    """Host and device memory now, and a note when the device's figures are not available."""
    tf = sys.modules.get("tensorflow")
    answer: Mapping[str, int] | BaseException
    device = memory_device()
    if tf is None:
        answer = RuntimeError("TensorFlow not imported")
    else:
        try:
            answer = tf.config.experimental.get_memory_info(device)
        except Exception as error:  # ValueError on most CPUs; anything else is said the same way
            answer = error
    current, peak, note = interpret_device_info(answer, device)
    return MemoryUse(host_rss_mb(), current, peak), note


def growth_warning(what: str, values: Sequence[float | None], epochs: Sequence[int]) -> str | None:
    """A line when ``values`` (MiB, one per epoch) grow by more than a few MB per epoch: the slope of
    a least-squares line over at least three epochs."""
    points = [(epoch, value) for epoch, value in zip(epochs, values) if value is not None]
    if len(points) < 3:
        return None
    xs, ys = [float(p[0]) for p in points], [p[1] for p in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / sum((x - mean_x) ** 2 for x in xs)
    if slope <= max(GROWTH_MB_PER_EPOCH, GROWTH_SHARE_PER_EPOCH * ys[0]):
        return None
    return (
        f"{what} grew {slope:,.1f} MiB per epoch over epochs {points[0][0] + 1}–{points[-1][0] + 1} "
        f"({ys[0]:,.0f} → {ys[-1]:,.0f} MiB): a leak, or caches still filling"
    )
