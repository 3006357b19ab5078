"""Phase bookkeeping for a training loop: the public profiler API.

Collection only: this module times what it is told to time with an injectable clock and keeps every
raw value. It imports no TensorFlow; the device fence is passed in (see :mod:`tfprof_m1.fence`).

A loop looks like this (the built-in loop in :mod:`tfprof_m1.loop` is written the same way)::

    profiler = PhaseProfiler(fence=fence)
    for epoch in range(epochs):
        with profiler.epoch():
            for batch in profiler.timed(iter(dataset)):      # next() timed as "input"
                with profiler.step(examples=batch_size):
                    with profiler.phase("compute"):
                        token = train_step(*batch)
                    profiler.sync(token)                      # fence timed as "sync"

Time measured outside a step but inside an epoch (typically the ``next()`` that fetches the next
batch) is carried into the step that opens next; what is left when the epoch closes (the final
``next()`` that raises ``StopIteration``) stays on the epoch as ``unassigned_ms``.
"""

from __future__ import annotations

import gc
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Protocol

from tfprof_m1.phases import INPUT, OTHER, SYNC

Clock = Callable[[], float]
"""Returns seconds from an arbitrary origin, monotonically (``time.perf_counter`` by default)."""


class Fence(Protocol):
    """Blocks the host until device work queued so far has finished."""

    name: str

    def __call__(self, *depends_on: Any) -> None: ...


@dataclass
class StepTiming:
    """Raw figures of one training step, in milliseconds."""

    kind: str
    examples: int
    wall_ms: float
    phases_ms: dict[str, float] = field(default_factory=dict)


@dataclass
class EpochTiming:
    """Raw figures of one epoch: its wall time, every step, and phase time outside any step."""

    index: int
    wall_ms: float
    steps: list[StepTiming] = field(default_factory=list)
    unassigned_ms: dict[str, float] = field(default_factory=dict)
    #: False when the epoch was cut short by an exception (for example KeyboardInterrupt).
    complete: bool = False
    #: Time Python's garbage collector paused the loop during the epoch, in whatever phase it hit.
    gc_ms: float = 0.0
    gc_collections: int = 0

    @property
    def examples(self) -> int:
        return sum(step.examples for step in self.steps)


class PhaseProfiler:
    """Times epochs, steps and named phases of a training loop.

    Args:
        clock: seconds as a float; inject a fake one for exact tests.
        fence: called by :meth:`sync` and at epoch boundaries; None means no device to wait for.

    Raises:
        ValueError: on misuse: a phase started twice, a stop without a start, overlapping phases,
            a step outside an epoch, or the reserved name ``"other"``.
    """

    def __init__(self, clock: Clock = time.perf_counter, fence: Fence | None = None) -> None:
        self.clock = clock
        self.fence = fence
        self.epochs: list[EpochTiming] = []
        self._epoch: EpochTiming | None = None
        self._epoch_start = 0.0
        self._step: StepTiming | None = None
        self._step_start = 0.0
        self._active: tuple[str, float] | None = None
        self._pending_ms: dict[str, float] = {}

    # -- phases -------------------------------------------------------------------------------
    def start(self, name: str) -> None:
        """Start timing phase ``name``. Phases do not nest: one at a time."""
        if name == OTHER:
            raise ValueError(f"phase name {OTHER!r} is reserved for unattributed time")
        if self._active is not None:
            active = self._active[0]
            if active == name:
                raise ValueError(f"phase {name!r} was already started")
            raise ValueError(f"phase {name!r} started while phase {active!r} is active; phases must not overlap")
        self._active = (name, self.clock())

    def stop(self, name: str) -> None:
        """Stop timing phase ``name`` and add its time to the current step (or the epoch)."""
        now = self.clock()
        if self._active is None or self._active[0] != name:
            raise ValueError(f"phase {name!r} was stopped but never started")
        elapsed_ms = (now - self._active[1]) * 1000.0
        self._active = None
        target = self._step.phases_ms if self._step is not None else self._pending_ms
        target[name] = target.get(name, 0.0) + elapsed_ms

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the body as phase ``name``."""
        self.start(name)
        try:
            yield
        finally:
            self.stop(name)

    # -- input and device -----------------------------------------------------------------------
    def timed(self, iterator: Iterable[Any]) -> Iterator[Any]:
        """Yield from ``iterator``, timing each ``next()`` as the input phase.

        Making the iterator (for a ``tf.data.Dataset``, building its pipeline) is input time too.
        """
        source: Iterator[Any] | None = None
        while True:
            self.start(INPUT)
            exhausted = False
            try:
                if source is None:
                    source = iter(iterator)
                item = next(source)
            except StopIteration:
                exhausted = True
            except BaseException:
                self.stop(INPUT)
                raise
            if exhausted:
                # Out of the except block, nothing refers to the iterator any more: tearing it down
                # (a tf.data iterator joins its threads) happens here, as input time.
                source = None
                self.stop(INPUT)
                return
            self.stop(INPUT)
            yield item

    def sync(self, *depends_on: Any) -> None:
        """Wait for queued device work (through the fence), timed as the sync phase."""
        if self.fence is None:
            return
        with self.phase(SYNC):
            self.fence(*depends_on)

    # -- steps and epochs -----------------------------------------------------------------------
    @contextmanager
    def step(self, kind: str = "fused", examples: int = 0) -> Iterator[StepTiming]:
        """Time one training step; phases inside it are recorded on it."""
        if self._epoch is None:
            raise ValueError("step() must be inside epoch()")
        if self._step is not None:
            raise ValueError("step() was already started; steps do not nest")
        record = StepTiming(kind=kind, examples=examples, wall_ms=0.0, phases_ms=self._pending_ms)
        self._pending_ms = {}
        self._step, self._step_start = record, self.clock()
        try:
            yield record
        finally:
            record.wall_ms = (self.clock() - self._step_start) * 1000.0
            self._step = None
            self._epoch.steps.append(record)

    @contextmanager
    def epoch(self) -> Iterator[EpochTiming]:
        """Time one epoch, fenced at both ends so queued device work lands in the right epoch."""
        if self._epoch is not None:
            raise ValueError("epoch() was already started; epochs do not nest")
        if self.fence is not None:
            self.fence()  # work queued before the epoch is not the epoch's
        record = EpochTiming(index=len(self.epochs), wall_ms=0.0)
        gc_started: list[float] = []

        def on_gc(phase: str, info: dict) -> None:
            if phase == "start":
                gc_started.append(self.clock())
            elif gc_started:
                record.gc_ms += (self.clock() - gc_started.pop()) * 1000.0
                record.gc_collections += 1

        self._pending_ms = {}
        gc.callbacks.append(on_gc)
        self._epoch, self._epoch_start = record, self.clock()
        try:
            yield record
            self.sync()
            record.complete = True
        finally:
            if self._active is not None:  # an exception left a phase open: close it, keep the time
                self.stop(self._active[0])
            record.wall_ms = (self.clock() - self._epoch_start) * 1000.0
            gc.callbacks.remove(on_gc)
            for name, value in self._pending_ms.items():
                record.unassigned_ms[name] = record.unassigned_ms.get(name, 0.0) + value
            self._pending_ms = {}
            self._epoch = None
            self.epochs.append(record)


class NullProfiler(PhaseProfiler):
    """Same interface, measures nothing: lets a loop call the profiler unconditionally."""

    def __init__(self) -> None:
        super().__init__(clock=lambda: 0.0, fence=None)

    def start(self, name: str) -> None:
        pass

    def stop(self, name: str) -> None:
        pass

    def timed(self, iterator: Iterable[Any]) -> Iterator[Any]:
        return iter(iterator)

    def sync(self, *depends_on: Any) -> None:
        pass

    @contextmanager
    def step(self, kind: str = "fused", examples: int = 0) -> Iterator[StepTiming]:
        yield StepTiming(kind=kind, examples=examples, wall_ms=0.0)

    @contextmanager
    def epoch(self) -> Iterator[EpochTiming]:
        yield EpochTiming(index=0, wall_ms=0.0)
