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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tfprof_m1.trace.steps import event_stats, is_derived_line, is_device_plane, line_events


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

    @property
    def end_ps(self) -> int:
        return self.start_ps + self.duration_ps


def _op_of(stats: dict[str, Any]) -> str | None:
    op = stats.get("tf_op") or stats.get("level 0")
    return str(op).split("#", 1)[0] or None if op else None


def device_kernels(spaces: Sequence[Any]) -> Iterable[Kernel]:
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
