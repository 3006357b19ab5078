"""Where the steps of a tf.profiler trace are, whoever wrote it.

Writers mark steps differently, so the steps are looked for in this order, and the first kind found
in any file is used for every file of the run:

1. ``train`` host events with a ``step_num`` stat: tfprof_m1's own :class:`~tfprof_m1.trace.window.
   TraceWindow`, and Keras 2's ``fit`` (``tf.profiler.experimental.Trace("train", step_num=…)``).
2. Keras 3's ``Profiled batch`` host events (its TensorBoard callback with ``profile_batch``), then any
   other host event carrying ``step_num``.
3. The device planes' ``Steps`` line, which XProf's step grouping writes into TensorFlow 2 traces of
   GPU runs (one event per step, with ``group_id``); one window per device and step.
4. ``group_id`` stats on kernels (or host events) without a ``Steps`` line: one window per group.
5. Failing all, each file's whole trace is one window (and the summary says so).

A window is (file, device plane or None, step, start, end) in absolute picoseconds; host events match
any window of their file, device events the windows of their own plane (or a plane-less one).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from tfprof_m1.base.tf_types import ProtoMessage

__all__ = [
    "StatValue",
    "DERIVED_LINE_MIN",
    "SOURCE_DEVICE_STEPS",
    "SOURCE_GROUPS",
    "SOURCE_KERAS",
    "SOURCE_MARKERS",
    "SOURCE_WHOLE",
    "StepIndex",
    "StepWindow",
    "as_int",
    "event_stats",
    "find_steps",
    "is_derived_line",
    "is_device_plane",
    "line_events",
    "stat_value",
]

#: A trace stat's value, as the XStat protobuf holds it (a referenced string resolved).
StatValue = int | float | str | bytes | None

#: The project's own step marker (and Keras 2's).
STEP_MARKER = "train"
#: Keras 3's TensorBoard callback marks each profiled batch with this host event.
KERAS_BATCH = "Profiled batch"
#: XProf's derived lines carry thread ids from 0xdeadbeef up (``kThreadIdDerivedMin`` in
#: tsl/profiler/utils/xplane_schema.h); older traces stored them as 32-bit ints (-559038737).
DERIVED_LINE_MIN = 0xDEADBEEF
DERIVED_LINE_COUNT = 32
#: The step line (``kThreadIdStepInfo``).
STEP_LINE_ID = DERIVED_LINE_MIN
#: Names of the derived lines, for traces whose lines carry no id (id 0).
DERIVED_LINE_NAMES = frozenset(
    {
        "Steps",
        "Launch Stats",
        "TensorFlow Name Scope",
        "TensorFlow Ops",
        "XLA Modules",
        "XLA Ops",
        "Framework Name Scope",
        "Framework Ops",
        "Source code",
        "XLA TraceMe",
        "SparseCore Steps",
    }
)

#: Where the steps came from, as the summary says it.
SOURCE_MARKERS = "'train' step markers (tfprof_m1's trace window, Keras 2's fit)"
SOURCE_KERAS = "Keras 3's 'Profiled batch' events (TensorBoard callback, profile_batch)"
SOURCE_DEVICE_STEPS = "the device planes' Steps line (XProf's step grouping)"
SOURCE_GROUPS = "group_id stats (XProf's step grouping, no Steps line)"
SOURCE_WHOLE = "none found: the whole trace is one window"


def is_device_plane(plane: ProtoMessage) -> bool:
    """Whether a plane is an accelerator's (``/device:GPU:0``, ``/device:TPU:0``, ...)."""
    return plane.name.startswith("/device:")


def is_derived_line(line: ProtoMessage) -> bool:
    """Whether a line was derived by XProf from other lines (Steps, TensorFlow Ops, Name Scope, XLA
    Ops...): it repeats their events under other names and must not be counted again. Known by its
    thread id; by its name only where the trace gives no id."""
    if DERIVED_LINE_MIN <= (line.id & 0xFFFFFFFF) < DERIVED_LINE_MIN + DERIVED_LINE_COUNT:
        return True
    return line.id == 0 and line.name in DERIVED_LINE_NAMES


def is_step_line(line: ProtoMessage) -> bool:
    """The derived line holding one event per step."""
    return (line.id & 0xFFFFFFFF) == STEP_LINE_ID or (line.id == 0 and line.name == "Steps")


@dataclass(frozen=True)
class StepWindow:
    """One step of one file (and, for device steps, of one device plane); times in picoseconds."""

    file: int
    plane: str | None
    step: int
    start_ps: int
    end_ps: int
    #: The ``group_id`` XProf's grouping gave the step's marker, where the trace has one: the step's
    #: kernels carry it too, also those that run after the host marker ends.
    group: int | None = None

    @property
    def ms(self) -> float:
        """The window's length in milliseconds."""
        return (self.end_ps - self.start_ps) / 1e9


def stat_value(stat: ProtoMessage, stat_metadata: Mapping[int, ProtoMessage]) -> StatValue:
    """A stat's value (a referenced string resolved)."""
    kind = stat.WhichOneof("value")
    if kind == "ref_value":
        return stat_metadata[stat.ref_value].name
    return getattr(stat, kind) if kind else None


def event_stats(plane: ProtoMessage, event: ProtoMessage) -> dict[str, StatValue]:
    """An event's stats by name."""
    return {plane.stat_metadata[s.metadata_id].name: stat_value(s, plane.stat_metadata) for s in event.stats}


def line_events(plane: ProtoMessage, line: ProtoMessage) -> Iterable[tuple[str, int, int, ProtoMessage]]:
    """(name, start_ps, duration_ps, event) of each event on a line, in absolute picoseconds."""
    base = line.timestamp_ns * 1000
    for event in line.events:
        yield plane.event_metadata[event.metadata_id].name, base + event.offset_ps, event.duration_ps, event


def as_int(value: StatValue) -> int | None:
    """A stat's value as an int (None when it is none)."""
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _host_step_events(spaces: Sequence[ProtoMessage]) -> dict[str, list[StepWindow]]:
    """Host events with a ``step_num`` stat, by event name."""
    found: dict[str, list[StepWindow]] = defaultdict(list)
    for number, space in enumerate(spaces):
        for plane in space.planes:
            if is_device_plane(plane):
                continue
            ids = {k for k, v in plane.stat_metadata.items() if v.name == "step_num"}
            if not ids:
                continue
            groups = {k for k, v in plane.stat_metadata.items() if v.name == "group_id"}
            for line in plane.lines:
                for name, start, duration, event in line_events(plane, line):
                    stat = next((s for s in event.stats if s.metadata_id in ids), None)
                    if stat is None:
                        continue
                    step = as_int(stat_value(stat, plane.stat_metadata))
                    group = next((s for s in event.stats if s.metadata_id in groups), None)
                    group_id = as_int(stat_value(group, plane.stat_metadata)) if group is not None else None
                    found[name].append(StepWindow(number, None, step or 0, start, start + duration, group_id))
    return found


def _device_steps(spaces: Sequence[ProtoMessage]) -> list[StepWindow]:
    windows = []
    for number, space in enumerate(spaces):
        for plane in space.planes:
            if not is_device_plane(plane):
                continue
            for line in plane.lines:
                if not is_step_line(line):
                    continue
                for name, start, duration, event in line_events(plane, line):
                    stats = event_stats(plane, event)
                    step = as_int(stats.get("group_id"))
                    step = step if step is not None else as_int(stats.get("step_name", name))
                    windows.append(StepWindow(number, plane.name, step or 0, start, start + duration))
    return windows


def _group_steps(spaces: Sequence[ProtoMessage]) -> list[StepWindow]:
    """Per file, plane and group_id, the span of the events carrying it (device stream lines first)."""
    for device in (True, False):
        spans: dict[tuple[int, str | None, int], list[int]] = {}
        for number, space in enumerate(spaces):
            for plane in space.planes:
                if is_device_plane(plane) is not device:
                    continue
                ids = {k for k, v in plane.stat_metadata.items() if v.name == "group_id"}
                for line in plane.lines if ids else ():
                    if is_derived_line(line):
                        continue
                    for _, start, duration, event in line_events(plane, line):
                        stat = next((s for s in event.stats if s.metadata_id in ids), None)
                        group = as_int(stat_value(stat, plane.stat_metadata)) if stat is not None else None
                        if group is None:
                            continue
                        key = (number, plane.name if device else None, group)
                        span = spans.setdefault(key, [start, start + duration])
                        span[0], span[1] = min(span[0], start), max(span[1], start + duration)
        if spans:
            return [StepWindow(n, p, g, s, e) for (n, p, g), (s, e) in spans.items()]
    return []


def _whole_trace(spaces: Sequence[ProtoMessage]) -> list[StepWindow]:
    windows = []
    for number, space in enumerate(spaces):
        first, last = None, None
        for plane in space.planes:
            for line in plane.lines:
                if is_derived_line(line):
                    continue
                for _, start, duration, _ in line_events(plane, line):
                    first = start if first is None else min(first, start)
                    last = start + duration if last is None else max(last, start + duration)
        if first is not None and last is not None:
            windows.append(StepWindow(number, None, 0, first, last))
    return windows


def find_steps(spaces: Sequence[ProtoMessage]) -> tuple[list[StepWindow], str]:
    """The step windows of a run's traces, and where they came from (one of the ``SOURCE_*`` texts).

    Returns:
        Windows sorted by (step, start); an empty list only when the trace has no event at all.
    """
    host = _host_step_events(spaces)
    if host.get(STEP_MARKER):
        windows, source = host[STEP_MARKER], SOURCE_MARKERS
    elif host.get(KERAS_BATCH):
        windows, source = host[KERAS_BATCH], SOURCE_KERAS
    elif host:
        name, windows = max(host.items(), key=lambda item: len(item[1]))
        source = f"host events '{name}' with a step_num stat"
    elif windows := _device_steps(spaces):
        source = SOURCE_DEVICE_STEPS
    elif windows := _group_steps(spaces):
        source = SOURCE_GROUPS
    else:
        windows, source = _whole_trace(spaces), SOURCE_WHOLE
    return sorted(windows, key=lambda w: (w.step, w.start_ps)), source


class StepIndex:
    """Which step an event belongs to: the window it starts in (bisection; windows of one key do
    not overlap in any trace seen, and an overlapping one loses to the later start)."""

    def __init__(self, windows: Sequence[StepWindow]) -> None:
        by_key: dict[tuple[int, str | None], list[StepWindow]] = defaultdict(list)
        for window in windows:
            by_key[(window.file, window.plane)].append(window)
        self._keys = {key: sorted(found, key=lambda w: w.start_ps) for key, found in by_key.items()}
        self._starts = {key: [w.start_ps for w in found] for key, found in self._keys.items()}
        self._groups = {(w.file, w.group): w for w in windows if w.plane is None and w.group is not None}

    def by_group(self, file: int, group: int | None) -> StepWindow | None:
        """The host-marked step whose marker carries ``group`` (XProf's grouping), if any."""
        return self._groups.get((file, group)) if group is not None else None

    def find(self, file: int, plane: str | None, start_ps: int) -> StepWindow | None:
        """The window of ``file`` (on ``plane``, or plane-less) an event starting at ``start_ps`` is in."""
        for key in ((file, plane), (file, None)) if plane is not None else ((file, None),):
            starts = self._starts.get(key)
            if not starts:
                continue
            index = bisect.bisect_right(starts, start_ps) - 1
            if index >= 0 and start_ps < self._keys[key][index].end_ps:
                return self._keys[key][index]
        return None
