"""The kernels and memory copies of a trace's device planes, each counted once.

A GPU plane (``/device:GPU:N``) holds one line per CUDA stream (``Stream #7(Compute)``,
``Stream #9(MemcpyH2D)``) and, in traces XProf has grouped, derived lines (``Steps``, ``TensorFlow
Ops``, ``TensorFlow Name Scope``, ``XLA Ops``...) that repeat the stream events under other names.
Only the stream lines are read (:func:`~tfprof_m1.trace.steps.is_derived_line` says which are derived).

A kernel's TensorFlow op is its ``tf_op`` stat, else the ``level 0`` annotation CUPTI recorded
(older TensorFlow); an XLA kernel without either is an XLA kernel. Memory copies (``MemcpyH2D``,
``MemcpyD2H``, ``MemcpyD2D``, ``MemcpyP2P``: by their ``memcpy_details`` stat or their name) are
transfers, a category of their own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from tfprof_m1.base.phases import OTHER
from tfprof_m1.base.tf_types import ProtoMessage
from tfprof_m1.trace.steps import (
    StatValue,
    StepIndex,
    as_int,
    event_stats,
    is_derived_line,
    is_device_plane,
    line_events,
)

__all__ = ["TRANSFER", "XLA_PHASE", "device_time", "union_ps"]


@dataclass(frozen=True)
class Kernel:
    """One kernel or memory copy on a device stream; times in absolute picoseconds of its file."""

    file: int
    plane: str
    name: str
    #: The TensorFlow op that launched it (``scope/…/op:Type``), or None when the trace does not say.
    op: str | None
    start_ps: int
    duration_ps: int
    transfer: bool
    #: An XLA kernel the trace names no TensorFlow op for (its HLO op is known, its phase is not).
    xla: bool
    #: The step group XProf's grouping gave it (``group_id``), if any.
    group: int | None = None

    @property
    def end_ps(self) -> int:
        """When it ended (picoseconds)."""
        return self.start_ps + self.duration_ps


def _op_of(stats: dict[str, StatValue]) -> str | None:
    op = stats.get("tf_op") or stats.get("level 0")
    return str(op).split("#", 1)[0] or None if op else None


def device_kernels(spaces: Sequence[ProtoMessage]) -> Iterable[Kernel]:
    """Every kernel and memory copy on the stream lines of the device planes of ``spaces``."""
    for number, space in enumerate(spaces):
        for plane in space.planes:
            if not is_device_plane(plane):
                continue
            for line in plane.lines:
                if is_derived_line(line):
                    continue
                for name, start, duration, event in line_events(plane, line):
                    stats = event_stats(plane, event)
                    op = _op_of(stats)
                    yield Kernel(
                        file=number,
                        plane=plane.name,
                        name=name,
                        op=op,
                        start_ps=start,
                        duration_ps=duration,
                        transfer="memcpy_details" in stats or name.startswith("Memcpy"),
                        xla=op is None and ("hlo_op" in stats or "hlo_module" in stats),
                        group=as_int(stats.get("group_id")),
                    )


def union_ps(intervals: Iterable[tuple[int, int]]) -> int:
    """Total length of the union of (start, end) intervals."""
    total, reach = 0, None
    for start, end in sorted(intervals):
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total


#: Memory copies between host and device (or devices), and host-side _Send/_Recv: never a model phase.
TRANSFER = "transfer"
#: Kernels of XLA-compiled code whose TensorFlow op the trace does not name (and host XLA runs).
XLA_PHASE = "xla"


def kernel_phase(kernel: Kernel, classify: Callable[[str], str]) -> tuple[str, str]:
    """(phase, name in the top-ops table) of a kernel: copies are transfers, a kernel with a
    TensorFlow op takes that op's phase, an XLA kernel without one is ``xla``, the rest ``other``."""
    if kernel.transfer:
        return TRANSFER, kernel.name
    if kernel.op is not None:
        return classify(kernel.op), kernel.op
    return (XLA_PHASE if kernel.xla else OTHER), kernel.name


@dataclass
class DeviceTime:
    """The device side of the traced steps (see :func:`device_time`); times in ms."""

    #: Per phase, per op (or kernel) name: [total ms, calls].
    ops: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    #: Per phase: union of its kernels per device, devices added.
    union_ms: dict[str, float] = field(default_factory=dict)
    #: Per phase: kernel durations added (XProf's kernel_stats way).
    kernel_ms: dict[str, float] = field(default_factory=dict)
    #: Per (step, device): the union of its kernels and copies inside the step.
    busy_ms: dict[tuple[int, str], float] = field(default_factory=dict)
    #: The TensorFlow ops that launched kernels.
    op_names: set[str] = field(default_factory=set)


def device_time(
    spaces: Sequence[ProtoMessage], steps: StepIndex, classify: Callable[[str], str]
) -> DeviceTime:
    """Attribute the kernels and copies that start inside a step (:class:`StepIndex`) to phases."""
    ops: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0]))
    phase_spans: dict[tuple[int, str, str], list[tuple[int, int]]] = defaultdict(list)
    step_spans: dict[tuple[int, str], list[tuple[int, int]]] = defaultdict(list)
    names: set[str] = set()
    for kernel in device_kernels(spaces):
        # a kernel of a host-marked step runs after its launch, often after the marker ends: the
        # step's group_id (where the trace is grouped) finds it; else it counts where it starts
        grouped = steps.by_group(kernel.file, kernel.group)
        window = grouped or steps.find(kernel.file, kernel.plane, kernel.start_ps)
        if window is None:
            continue
        phase, name = kernel_phase(kernel, classify)
        if kernel.op is not None:
            names.add(kernel.op)
        cell = ops[phase][name]
        cell[0] += kernel.duration_ps / 1e9
        cell[1] += 1
        phase_spans[(kernel.file, kernel.plane, phase)].append((kernel.start_ps, kernel.end_ps))
        # a kernel still running when its step window ends is busy only until then
        end = kernel.end_ps if grouped else min(kernel.end_ps, window.end_ps)
        step_spans[(window.step, f"{kernel.file}:{kernel.plane}")].append((kernel.start_ps, end))
    union: dict[str, float] = defaultdict(float)
    for (_, _, phase), spans in phase_spans.items():
        union[phase] += union_ps(spans) / 1e9
    return DeviceTime(
        ops={phase: dict(by_name) for phase, by_name in ops.items()},
        union_ms=dict(union),
        kernel_ms={phase: sum(total for total, _ in by_name.values()) for phase, by_name in ops.items()},
        busy_ms={key: union_ps(spans) / 1e9 for key, spans in step_spans.items()},
        op_names=names,
    )
