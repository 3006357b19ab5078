"""Per-step figures of an epoch, kept in typed arrays so a long run's memory does not grow by objects.

A :class:`StepTiming` is what one step looks like to a loop and to analysis; an epoch of thousands
of steps does not keep thousands of them. :class:`StepTable` keeps each figure as a column of an
``array`` (8 bytes a value): one column per phase (NaN on steps that did not record the phase),
one per device wait, and the probe samples as sparse columns (probe steps are few). Reading a step
(``table[i]``, iteration) builds its ``StepTiming`` afresh; analysis that only needs one figure over
the epoch reads it as a column (:meth:`StepTable.column`) without building any.

A table of a tiny model's steps (input, compute and sync on every step, one wait) costs about
70-80 bytes a step; ``benchmarks/scale.py`` measures it and ``tests/test_step_table.py`` bounds it.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import overload

import numpy as np

from tfprof_m1.base.stats import pairwise_sum

__all__ = ["FenceCheckSample", "StepTable", "StepTiming"]

_ABSENT = math.nan


@dataclass
class FenceCheckSample:
    """One coverage check after a sampled step (``PhaseProfiler.check_fence``), in ms: the
    coverage fence's first call, and what it waited beyond an immediate second call (the leftover:
    device work the step's own fence left queued; 0 when the second call took as long or longer)."""

    first_ms: float
    leftover_ms: float


@dataclass
class StepTiming:
    """Raw figures of one training step, in milliseconds.

    ``phases_ms[name]`` is the time the phase owns: host time inside it plus the device wait of a
    fence that directly followed it (less the fence's idle cost). ``waits_ms[name]`` is that device
    wait alone, so ``phases_ms - waits_ms`` is the phase's host (dispatch) time.
    """

    kind: str
    examples: int
    wall_ms: float
    phases_ms: dict[str, float] = field(default_factory=dict)
    waits_ms: dict[str, float] = field(default_factory=dict)
    #: Probe calls timed on this step: name -> [host ms, device wait ms] (see ``PhaseProfiler.call``).
    samples_ms: dict[str, list[float]] = field(default_factory=dict)
    #: When the step began (its input wait included), in ms from the epoch's start.
    started_ms: float = 0.0
    #: The coverage check run after this step, if one ran.
    fence_check: FenceCheckSample | None = None


class _Sparse:
    """One probe variant's samples: the rows (steps) that have one, and its two values there."""

    __slots__ = ("rows", "first", "second")

    def __init__(self) -> None:
        self.rows = array("q")
        self.first = array("d")
        self.second = array("d")


class StepTable(Sequence[StepTiming]):
    """An epoch's steps as columns of typed arrays; reads as a sequence of :class:`StepTiming`.

    ``append`` takes a step's figures apart into the columns; ``table[i]`` and iteration rebuild
    them (phases and waits in the order the table first met them). Assigning a tail slice
    (``table[-1:] = steps``) replaces the last steps, as Keras' grouped batches need.

    Args:
        steps: steps to start with (a list of records made by hand, for example).
    """

    __slots__ = (
        "_kinds",
        "_kind",
        "_examples",
        "_wall",
        "_started",
        "_phases",
        "_waits",
        "_samples",
        "_checks",
    )

    def __init__(self, steps: Iterable[StepTiming] = ()) -> None:
        self._clear()
        for step in steps:
            self.append(step)

    def _clear(self) -> None:
        self._kinds: list[str] = []
        self._kind = array("B")
        self._examples = array("q")
        self._wall = array("d")
        self._started = array("d")
        self._phases: dict[str, array] = {}
        self._waits: dict[str, array] = {}
        self._samples: dict[str, _Sparse] = {}
        #: Coverage checks by row (a few sampled steps an epoch).
        self._checks: dict[int, FenceCheckSample] = {}

    # -- writing --------------------------------------------------------------------------------
    def append(self, step: StepTiming) -> None:
        """Add one step's figures (the record itself is not kept)."""
        row = len(self._wall)
        self._kind.append(self._kind_code(step.kind))
        self._examples.append(step.examples)
        self._wall.append(step.wall_ms)
        self._started.append(step.started_ms)
        _put(self._phases, step.phases_ms, row)
        _put(self._waits, step.waits_ms, row)
        for name, pair in step.samples_ms.items():
            sparse = self._samples.setdefault(name, _Sparse())
            sparse.rows.append(row)
            sparse.first.append(pair[0])
            sparse.second.append(pair[1])
        if step.fence_check is not None:
            self._checks[row] = step.fence_check

    def _kind_code(self, kind: str) -> int:
        """The kind column's code of ``kind`` (a new kind gets the next one)."""
        if kind not in self._kinds:
            self._kinds.append(kind)
        return self._kinds.index(kind)

    def extend(self, steps: Iterable[StepTiming]) -> None:
        """Add each of ``steps`` in order (see :meth:`append`). Runs of steps alike (one kind, the
        same phases and waits, no samples or check: a block's steps) are added a column at a time,
        the same table as step by step at a fraction of the Python a step."""
        steps = steps if isinstance(steps, list) else list(steps)
        start, count = 0, len(steps)
        while start < count:
            first = steps[start]
            end = start + 1
            if not first.samples_ms and first.fence_check is None:
                kind, phases, waits = first.kind, first.phases_ms.keys(), first.waits_ms.keys()
                while end < count:
                    step = steps[end]
                    if (
                        step.kind != kind
                        or step.samples_ms
                        or step.fence_check is not None
                        or step.phases_ms.keys() != phases
                        or step.waits_ms.keys() != waits
                    ):
                        break
                    end += 1
            if end - start > 1:
                self._extend_alike(steps[start:end])
            else:
                self.append(first)
            start = end

    def _extend_alike(self, steps: list[StepTiming]) -> None:
        """Add steps of one kind with the same phases and waits and no samples or check."""
        row, count = len(self._wall), len(steps)
        self._kind.extend([self._kind_code(steps[0].kind)] * count)
        self._examples.extend([step.examples for step in steps])
        self._wall.extend([step.wall_ms for step in steps])
        self._started.extend([step.started_ms for step in steps])
        for columns, values in (
            (self._phases, [step.phases_ms for step in steps]),
            (self._waits, [step.waits_ms for step in steps]),
        ):
            names = values[0].keys()
            for name in names:
                column = columns.get(name)
                if column is None:
                    column = columns[name] = array("d", [_ABSENT]) * row
                column.extend([value[name] for value in values])
            absent = array("d", [_ABSENT]) * count
            for name, column in columns.items():
                if name not in names:
                    column.extend(absent)

    def truncate(self, length: int) -> None:
        """Keep only the first ``length`` steps."""
        for column in (self._kind, self._examples, self._wall, self._started):
            del column[length:]
        for columns in (self._phases, self._waits):
            for column in columns.values():
                del column[length:]
        for sparse in self._samples.values():
            keep = bisect_left(sparse.rows, length)
            del sparse.rows[keep:], sparse.first[keep:], sparse.second[keep:]
        self._checks = {row: check for row, check in self._checks.items() if row < length}

    def __setitem__(self, key: int | slice, value: StepTiming | Iterable[StepTiming]) -> None:
        start, stop, stride = (key if isinstance(key, slice) else slice(key, key + 1 or None)).indices(
            len(self)
        )
        if stride != 1 or stop < len(self):
            steps = list(self)
            steps[key] = value  # type: ignore[index,assignment]
            self._clear()
            self.extend(steps)
            return
        self.truncate(start)
        self.extend([value] if isinstance(value, StepTiming) else value)

    # -- reading --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._wall)

    @overload
    def __getitem__(self, index: int) -> StepTiming: ...

    @overload
    def __getitem__(self, index: slice) -> list[StepTiming]: ...

    def __getitem__(self, index: int | slice) -> StepTiming | list[StepTiming]:
        if isinstance(index, slice):
            return [self._row(row) for row in range(*index.indices(len(self)))]
        row = index + len(self) if index < 0 else index
        if not 0 <= row < len(self):
            raise IndexError("step index out of range")
        return self._row(row)

    def __iter__(self) -> Iterator[StepTiming]:
        return (self._row(row) for row in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (StepTable, list)):
            return list(self) == list(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"StepTable({len(self)} steps)"

    def _row(self, row: int) -> StepTiming:
        samples = {}
        for name, sparse in self._samples.items():
            at = bisect_left(sparse.rows, row)
            if at < len(sparse.rows) and sparse.rows[at] == row:
                samples[name] = [sparse.first[at], sparse.second[at]]
        return StepTiming(
            kind=self._kinds[self._kind[row]],
            examples=self._examples[row],
            wall_ms=self._wall[row],
            phases_ms=_get(self._phases, row),
            waits_ms=_get(self._waits, row),
            samples_ms=samples,
            started_ms=self._started[row],
            fence_check=self._checks.get(row),
        )

    # -- columns (analysis reads these without building a StepTiming per step) ----------------
    def column(self, phase: str) -> Sequence[float] | None:
        """Every step's time in ``phase``, NaN on steps that did not record it; None if none did."""
        return self._phases.get(phase)

    def phase_names(self) -> list[str]:
        """Phases recorded on any step, in the order the steps first recorded them."""
        return list(self._phases)

    def wait_totals(self) -> dict[str, float]:
        """Each phase's device wait added over the steps, phases in first-seen order."""
        totals = {}
        for name, column in self._waits.items():
            values = np.array(column, dtype=float)  # a copy: the column keeps growing
            totals[name] = pairwise_sum(values[~np.isnan(values)])
        return totals

    def fence_checks(self) -> list[FenceCheckSample]:
        """The coverage checks run after sampled steps, in step order."""
        return [self._checks[row] for row in sorted(self._checks)]

    def kinds(self) -> list[str]:
        """Each step's kind (``fused``, ``probe``, ``split``...)."""
        if not self._kinds:
            return []
        return np.array(self._kinds, dtype=object)[np.frombuffer(self._kind, dtype=np.uint8)].tolist()

    def kind_codes(self) -> tuple[list[str], np.ndarray]:
        """Each step's kind as a small integer code without a string a step: the kinds' names and a
        uint8 array of codes (a copy; step ``i`` is of kind ``names[codes[i]]``)."""
        return list(self._kinds), np.frombuffer(self._kind, dtype=np.uint8).copy()

    @property
    def wall_ms(self) -> Sequence[float]:
        """Each step's wall time (ms)."""
        return self._wall

    @property
    def started_ms(self) -> Sequence[float]:
        """When each step began, in ms from the epoch's start."""
        return self._started

    def sampled(self) -> list[StepTiming]:
        """The steps that timed probe calls (a budget's share of the epoch: only these are built, each
        figure gathered for all of them at once rather than looked up step by step)."""
        if not self._samples:
            return []
        rows = np.unique(
            np.concatenate([np.frombuffer(sparse.rows, dtype=np.int64) for sparse in self._samples.values()])
        )
        picked = rows.tolist()
        samples: list[dict[str, list[float]]] = [{} for _ in picked]
        for name, sparse in self._samples.items():
            at = np.searchsorted(rows, np.frombuffer(sparse.rows, dtype=np.int64)).tolist()
            for position, first, second in zip(at, sparse.first, sparse.second):
                samples[position][name] = [first, second]
        phases, waits = (_gathered(columns, rows) for columns in (self._phases, self._waits))
        kinds = np.array(self._kinds, dtype=object)[np.frombuffer(self._kind, dtype=np.uint8)[rows]].tolist()
        examples = np.frombuffer(self._examples, dtype=np.int64)[rows].tolist()
        wall, started = (
            np.frombuffer(column, dtype=np.float64)[rows].tolist() for column in (self._wall, self._started)
        )
        checks = [self._checks.get(row) for row in picked] if self._checks else [None] * len(picked)
        return [
            StepTiming(kind, count, ms, phase, wait, sample, start, check)
            for kind, count, ms, phase, wait, sample, start, check in zip(
                kinds, examples, wall, phases, waits, samples, started, checks
            )
        ]

    def sample_columns(self) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
        """The probe samples as columns, variant -> (host ms, wait ms) arrays over the sampled steps in
        step order, when every sampled step timed every variant (a probe step's samples); None when
        some did not, or there are none. What :meth:`sampled` holds, without building a step."""
        sparse = list(self._samples.values())
        if not sparse or not len(sparse[0].rows) or any(other.rows != sparse[0].rows for other in sparse[1:]):
            return None
        return {
            name: (np.array(column.first, dtype=np.float64), np.array(column.second, dtype=np.float64))
            for name, column in self._samples.items()
        }

    @property
    def examples(self) -> int:
        """Examples over all the steps (whole numbers: exact in any order)."""
        return int(np.frombuffer(self._examples, dtype=np.int64).sum()) if len(self._examples) else 0


def _put(columns: dict[str, array], values: dict[str, float], row: int) -> None:
    """Write a step's ``values`` at ``row``: a new name gets a column, NaN on the steps before."""
    for name, value in values.items():
        column = columns.get(name)
        if column is None:
            column = columns[name] = array("d", [_ABSENT]) * row
        column.append(value)
    for column in columns.values():
        if len(column) == row:
            column.append(_ABSENT)


def _get(columns: dict[str, array], row: int) -> dict[str, float]:
    return {name: value for name, column in columns.items() if (value := column[row]) == value}


def _gathered(columns: dict[str, array], rows: np.ndarray) -> list[dict[str, float]]:
    """:func:`_get` of each of ``rows`` (ascending), every column read for all of them at once."""
    found: list[dict[str, float]] = [{} for _ in range(len(rows))]
    for name, column in columns.items():
        values = np.frombuffer(column, dtype=np.float64)[rows]
        present = np.flatnonzero(values == values)  # NaN: the step did not record it
        for position, value in zip(present.tolist(), values[present].tolist()):
            found[position][name] = value
    return found
