"""Device fences: block the host until queued device work has finished.

On GPUs TensorFlow dispatches asynchronously, so a host clock read without a fence measures
dispatch, not compute. Two fences:

- ``sync_devices``: ``tf.test.experimental.sync_devices()`` runs a ``SyncDevice`` op on every
  device. Its blocking kernel exists only for CUDA and ROCm; on a PluggableDevice such as
  tensorflow-metal it is very likely a no-op, so it is chosen only for CUDA/ROCm GPUs.
- ``host_read``: copies one element of a tensor that depends on the last queued work to the host
  (``.numpy()``). The copy cannot finish before the work that produces the tensor, on any device
  whose queue runs in order. This is the fence everywhere else, CPU included, so the CPU runs the
  same code path as a Metal GPU.

Which fence ran, and what one call costs on an idle device, go into the report.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict, cast

from tfprof_m1.base.stats import summarize
from tfprof_m1.base.tf_types import TensorLike, TfFunction

__all__ = [
    "HOST_READ",
    "SYNC_DEVICES",
    "FenceCost",
    "GpuDetails",
    "HostReadFence",
    "SyncDevicesFence",
    "VariablesFence",
    "detect_fence_kind",
    "make_fence",
    "measure_fence_cost",
    "select_fence_kind",
    "visible_gpu_details",
]

SYNC_DEVICES = "sync_devices"
HOST_READ = "host_read"


class GpuDetails(TypedDict, total=False):
    """What ``tf.config.experimental.get_device_details`` tells of a GPU (each key may be absent)."""

    device_name: str
    compute_capability: tuple[int, int]


def select_fence_kind(
    gpu_details: Sequence[Mapping[str, object]], built_with_cuda: bool, built_with_rocm: bool
) -> str:
    """Choose the fence from what TensorFlow reports about its GPUs.

    Args:
        gpu_details: ``tf.config.experimental.get_device_details`` of each visible GPU.
        built_with_cuda: ``tf.test.is_built_with_cuda()``.
        built_with_rocm: ``tf.test.is_built_with_rocm()``.

    Returns:
        ``"sync_devices"`` when every GPU is a CUDA or ROCm device (they report a
        ``compute_capability``; PluggableDevices such as Metal do not), else ``"host_read"``.
    """
    if not gpu_details or not (built_with_cuda or built_with_rocm):
        return HOST_READ
    if all("compute_capability" in details for details in gpu_details):
        return SYNC_DEVICES
    return HOST_READ


class HostReadFence:
    """Fence by reading one element of a dependent tensor back to the host.

    Args:
        default_probe: returns a tensor to read when the caller names none, for example the last
            trainable variable (its value depends on the last optimizer update).
    """

    name = HOST_READ

    def __init__(self, default_probe: Callable[[], TensorLike]) -> None:
        self._default_probe = default_probe
        self._ready: TensorLike | None = None

    def __call__(self, *depends_on: TensorLike) -> None:
        import tensorflow as tf

        tensor = depends_on[-1] if depends_on else self._default_probe()
        if isinstance(tensor, (list, tuple)):
            tensor = tensor[-1]
        if isinstance(tensor, tf.distribute.DistributedValues):  # tf.distribute: wait for every local replica
            for value in tensor.values:
                self(value)
            return
        if not isinstance(tensor, tf.Tensor):
            tensor = tf.convert_to_tensor(tensor)  # reads a variable's current value
        if tensor.shape.num_elements() != 1:  # copy one element, not the whole tensor
            tensor = tf.reshape(tensor, [-1])[:1]
        tensor.numpy()

    def idle(self) -> None:
        """What a fence on a step's token costs when the device has nothing left to do."""
        import tensorflow as tf

        if self._ready is None:
            self._ready = tf.zeros([1])
        self(self._ready)


class VariablesFence:
    """Fence by reading one element of each of ``variables()`` (written by a step) to the host."""

    name = "variables_read"

    def __init__(self, variables: Callable[[], Sequence[TensorLike]]) -> None:
        self._variables = variables
        self._read: TfFunction | None = None

    def __call__(self, *depends_on: TensorLike) -> None:
        """Wait until every variable's last write is done (``depends_on`` is not needed: the
        variables are what the step wrote). ``idle`` is the same call on an idle device."""
        import tensorflow as tf

        if self._read is None:  # one traced call instead of two eager ops per variable
            variables = list(self._variables())
            self._read = tf.function(
                lambda: tf.stack(
                    [tf.cast(tf.reshape(variable, [-1])[0], tf.float32) for variable in variables]
                )
            )
        self._read().numpy()

    idle = __call__


class SyncDevicesFence:
    """Fence through ``tf.test.experimental.sync_devices()`` (blocking on CUDA and ROCm)."""

    name = SYNC_DEVICES

    def __call__(self, *depends_on: TensorLike) -> None:
        import tensorflow as tf

        tf.test.experimental.sync_devices()

    def idle(self) -> None:
        """One fence call with nothing queued: what the fence itself costs."""
        self()


def make_fence(kind: str, default_probe: Callable[[], TensorLike]) -> HostReadFence | SyncDevicesFence:
    """The fence of ``kind`` (``host_read`` or ``sync_devices``); a host-read fence reads ``default_probe()``
    when given nothing."""
    if kind == SYNC_DEVICES:
        return SyncDevicesFence()
    if kind == HOST_READ:
        return HostReadFence(default_probe)
    raise ValueError(f"unknown fence {kind!r}")


def visible_gpu_details() -> list[tuple[str, GpuDetails]]:
    """(device name, ``get_device_details``) of each visible GPU; details that cannot be read are {}."""
    import tensorflow as tf

    result = []
    for gpu in tf.config.get_visible_devices("GPU"):
        details: GpuDetails
        try:
            details = cast(GpuDetails, dict(tf.config.experimental.get_device_details(gpu)))
        except Exception:  # details are best effort; an unknown GPU gets the safe fence
            details = {}
        result.append((gpu.name, details))
    return result


def detect_fence_kind() -> str:
    """:func:`select_fence_kind` for the GPUs this process sees."""
    import tensorflow as tf

    details = [details for _, details in visible_gpu_details()]
    return select_fence_kind(details, tf.test.is_built_with_cuda(), tf.test.is_built_with_rocm())


@dataclass
class FenceCost:
    """What one fence call costs on an idle device (ms), from repeated calls."""

    name: str
    calls: int
    median_ms: float
    iqr_ms: float


def measure_fence_cost(
    fence: Callable[..., None],
    calls: int = 50,
    clock: Callable[[], float] = time.perf_counter,
    name: str | None = None,
    settle: bool = True,
) -> FenceCost:
    """Time ``calls`` fence calls back to back, after one untimed call to settle the device
    (``settle=False``: the caller has just fenced)."""
    if settle:
        fence()
    samples = []
    for _ in range(calls):
        start = clock()
        fence()
        samples.append((clock() - start) * 1000.0)
    summary = summarize(samples)
    assert summary is not None
    return FenceCost(
        name=name or str(getattr(fence, "name", None) or type(fence).__name__),
        calls=calls,
        median_ms=summary.median,
        iqr_ms=summary.iqr,
    )
