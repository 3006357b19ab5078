"""Phase bookkeeping for a training loop: the public profiler API.

Collection only: this module times what it is told to time with an injectable clock and keeps every
raw value. It imports no TensorFlow; the device fence is passed in (see :mod:`tfprof_m1.collection.fence`).

A loop looks like this (the built-in loop in :mod:`tfprof_m1.collection.loop` is written the same way)::

    profiler = PhaseProfiler(fence=fence)
    for epoch in range(epochs):
        with profiler.epoch():
            for batch in profiler.timed(iter(dataset)):      # next() timed as "input"
                with profiler.step(examples=batch_size):
                    with profiler.phase("compute"):
                        token = train_step(*batch)
                    profiler.sync(token)                      # the wait belongs to "compute"

**Device-true phases.** On an asynchronous device (every GPU, or the CPU under TensorFlow's
asynchronous executor) a call returns once its work is queued. A :meth:`PhaseProfiler.sync` that
directly follows a phase therefore hands the fence's wait to that phase: the phase's time runs from
its dispatch to the end of its device work. Only the fence's own cost on an idle device (measured at
the start of every epoch) stays in ``sync``. Each phase's device wait is kept apart as well
(``StepTiming.waits_ms``), so host-bound and device-bound parts can be told apart.

Time measured outside a step but inside an epoch (typically the ``next()`` that fetches the next
batch) is carried into the step that opens next; what is left when the epoch closes (the final
``next()`` that raises ``StopIteration``) stays on the epoch as ``outside_steps_ms``.

**Blocks.** A fence after every step takes away the overlap of the host's next dispatch with the
device's work on this step (on an asynchronous device a fenced step costs its dispatch plus its
device time, not the larger of the two). ``call(..., fence=False)`` runs a step's call unfenced: the
step joins an open *block*, which one fence closes (:meth:`PhaseProfiler.close_block`, or the next
fenced step, unprofiled stretch, :meth:`sync` outside a step, or the epoch's end). The block's
compute (every step's dispatch, plus the closing fence's wait less the fence's idle cost) is shared
equally over its steps; the fence's idle cost is ``sync`` on its last step. Each step keeps its own
input time and start, so the block's steps still add up to the time they took.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from tfprof_m1.base.phases import BLOCK, FUSED, INPUT, OTHER, PROBE_SPANS, PROFILING, SYNC
from tfprof_m1.base.tf_types import TensorLike
from tfprof_m1.collection.fence import measure_fence_cost
from tfprof_m1.collection.step_table import FenceCheckSample, StepTable, StepTiming

__all__ = [
    "IDLE_FENCE_CALLS",
    "MAX_BLOCK_STEPS",
    "EpochTiming",
    "FenceCheckSample",
    "NullProfiler",
    "PhaseProfiler",
    "StepTiming",
    "StretchTiming",
]

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")

Clock = Callable[[], float]
"""Returns seconds from an arbitrary origin, monotonically (``time.perf_counter`` by default)."""

#: Fence calls on an idle device, at each epoch's start, to measure what one fence costs by itself.
IDLE_FENCE_CALLS = 9
#: Longest block of unfenced steps: a block this long is closed by a fence (bounds the step records
#: held until the block closes, and how far the host may run ahead of the device).
MAX_BLOCK_STEPS = 100


#: What :meth:`PhaseProfiler.block_run` yields: ``add(input_start, input_end, call_start, call_end,
#: examples, result)`` records one block step.
BlockStepAdder = Callable[[float, float, float, float, int, TensorLike], None]


class Fence(Protocol):
    """Blocks the host until device work queued so far has finished."""

    name: str

    def __call__(self, *depends_on: TensorLike) -> None: ...


@dataclass
class StretchTiming:
    """A stretch of steps run with no instrumentation: one clock reading at each end, one fence."""

    started_ms: float
    steps: int = 0
    examples: int = 0
    wall_ms: float = 0.0
    #: Index in ``EpochTiming.steps`` of the first profiled step after the stretch.
    before_step: int = 0
    #: What the closing fence waited, from the last step's call returning to the fence returning.
    wait_ms: float = 0.0

    @property
    def edge_ms(self) -> float:
        """The stretch's start and end, beyond what its steps take in a loop that never stops (ms).

        A stretch starts on an idle device (the fence before it) and ends with a fence; a loop runs
        its steps overlapped, host dispatching step i+1 while the device runs step i. With ``h`` a
        step's dispatch and ``d`` its device time, n steps take ``n·max(h, d) + min(h, d)``: host-bound,
        the fence waits for the last step's device work (``wait = d``); device-bound, the device
        started one dispatch late (``h``, the dispatch time over the steps). The edge is
        ``min(wait, dispatch / n)`` either way, and 0 when the closing wait was not recorded (older
        reports). A short stretch (3 steps at 60 steps an epoch) otherwise reads up to a third of a
        step slower a step than the loop it stands for.
        """
        if self.steps <= 0 or self.wait_ms <= 0:
            return 0.0
        return min(self.wait_ms, max(0.0, self.wall_ms - self.wait_ms) / self.steps)

    @property
    def steady_ms(self) -> float:
        """The stretch's time without its edge (:attr:`edge_ms`): its steps as a loop runs them."""
        return self.wall_ms - self.edge_ms


@dataclass
class EpochTiming:
    """Raw figures of one epoch: its wall time, every step, and phase time outside any step."""

    index: int
    wall_ms: float
    #: The profiled steps, in typed arrays (a list of records given here is taken into a table).
    steps: StepTable = field(default_factory=StepTable)
    outside_steps_ms: dict[str, float] = field(default_factory=dict)
    #: False when the epoch was cut short by an exception (for example KeyboardInterrupt).
    complete: bool = False
    #: Time Python's garbage collector paused the loop during the epoch, in whatever phase it hit.
    gc_ms: float = 0.0
    gc_collections: int = 0
    #: Unprofiled stretches (the profiling-cost reference), in order.
    stretches: list[StretchTiming] = field(default_factory=list)
    #: One fence call on the idle device, median of calls before the epoch (ms); 0 without a fence.
    fence_idle_ms: float = 0.0
    #: The fence's name (``host_read``, ``sync_devices``...); None without a fence.
    fence: str | None = None
    #: Whether the epoch is the first of a run (tracing, pipeline start): warm-up, kept out of the
    #: steady state. None (records made by hand): the first epoch, ``index == 0``, is.
    warmup: bool | None = None
    #: When the profiled steps' work was last known done (ms from the epoch's start): the end of the
    #: last fenced step, or of the fence closing the last block. It ends the last step's span, which
    #: has no next step's start (the epoch's last block then needs no fence of its own before the
    #: last step). None: not recorded (records made by hand, older runs).
    steps_end_ms: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.steps, StepTable):
            self.steps = StepTable(self.steps)

    @property
    def is_warmup(self) -> bool:
        """The epoch opens a run (see ``warmup``)."""
        return self.index == 0 if self.warmup is None else self.warmup

    @property
    def examples(self) -> int:
        """Examples the epoch trained on, profiled steps and unprofiled stretches together."""
        return self.steps.examples + sum(stretch.examples for stretch in self.stretches)


def _idle_ms(fence: Callable[..., None], clock: Clock) -> float:
    """Median time of fence calls on an idle device (the fence's own cost); the epoch-start fence
    that precedes them has already settled the device."""
    idle = getattr(fence, "idle", fence)  # a fence may offer a representative call on a ready tensor
    return measure_fence_cost(idle, calls=IDLE_FENCE_CALLS, clock=clock, settle=False).median_ms


class PhaseProfiler:
    """Times epochs, steps and named phases of a training loop.

    Args:
        clock: seconds as a float; inject a fake one for exact tests.
        fence: called by :meth:`sync` and at epoch boundaries; None means no device to wait for.
        coverage_fence: a second, independent fence for :meth:`check_fence` (for example one that reads
            every variable); None disables the check.

        annotate: also mark each phase as a ``tf.profiler.experimental.Trace`` annotation of the same
            name (when TensorFlow is imported), so the trace viewer shows the table's phases.

    Phases nest: ``phase("backward")`` inside ``phase("generator")`` is recorded as
    ``generator/backward``, and the outer phase keeps only its own time.

    Raises:
        ValueError: on misuse: a phase started twice, a stop that does not match the innermost open
            phase, a step outside an epoch, or the reserved name ``"other"``.
    """

    def __init__(
        self,
        clock: Clock = time.perf_counter,
        fence: Fence | None = None,
        coverage_fence: Fence | None = None,
        annotate: bool = True,
    ) -> None:
        self.clock = clock
        self.fence = fence
        self.coverage_fence = coverage_fence
        self.annotate = annotate
        self.epochs: list[EpochTiming] = []
        self._epoch: EpochTiming | None = None
        self._epoch_start = 0.0
        self._step: StepTiming | None = None
        self._step_start = 0.0
        self._step_end = 0.0
        self._active: list[_Frame] = []
        self._pending_ms: dict[str, float] = {}
        self._pending_waits_ms: dict[str, float] = {}
        self._pending_started: float | None = None
        #: The phase that stopped last, while nothing else has happened since: the owner of a sync.
        self._last_stopped: str | None = None
        self._stretch: StretchTiming | None = None
        self._next_is_warmup = True
        #: The open block: its steps (appended to the epoch when it closes), the last step's result
        #: (the closing fence waits for it), the phase its calls ran as, and whether the current step
        #: joined it.
        self._block: list[StepTiming] = []
        self._block_token: TensorLike = None
        self._block_phase = ""
        self._joins_block = False
        self.max_block_steps = MAX_BLOCK_STEPS
        #: Inside :meth:`block_run`: ``timed()`` passes ``next()`` through (the run times it).
        self._untimed_input = False
        #: Runs recorded: 1 plus each :meth:`begin_run` after an epoch was timed.
        self.runs = 1

    def begin_run(self) -> None:
        """Mark the next epoch as the first of a new run (warm-up: retracing, a new pipeline).

        ``run_profiled_loop`` calls it, so a profiler reused for a second run (a notebook cell run
        again) keeps that run's warm-up epoch out of the steady state as it does the first's.
        """
        if self.epochs and not self._next_is_warmup:
            self.runs += 1
        self._next_is_warmup = True

    # -- phases -------------------------------------------------------------------------------
    def start(self, name: str) -> None:
        """Start timing phase ``name``.

        Started inside another phase, it nests: it is recorded as ``outer/name`` and the outer
        phase keeps only its own (exclusive) time, so the phases still add up to the step.
        """
        if name == OTHER or not name or "/" in name:
            raise ValueError(
                f"phase name {name!r}: names must be non-empty, without '/', and not {OTHER!r} (reserved)"
            )
        if any(frame.name.rsplit("/", 1)[-1] == name for frame in self._active):
            raise ValueError(f"phase {name!r} was already started")
        now = self.clock()
        if self._step is None and self._pending_started is None:
            self._pending_started = now
        self._last_stopped = None
        full = f"{self._active[-1].name}/{name}" if self._active else name
        self._add(full, 0.0)  # listed in the order phases start: an outer phase before its inner ones
        self._active.append(_Frame(full, now, self._annotate(full)))

    def stop(self, name: str) -> None:
        """Stop timing phase ``name`` (the innermost open phase) and add its time to the current
        step (or, outside any step, to the next step or the epoch)."""
        now = self.clock()
        if not self._active or self._active[-1].name.rsplit("/", 1)[-1] != name.rsplit("/", 1)[-1]:
            open_phase = f" (open: {self._active[-1].name!r})" if self._active else ""
            raise ValueError(f"phase {name!r} was stopped but never started{open_phase}")
        frame = self._active.pop()
        if frame.annotation is not None:
            frame.annotation.__exit__(None, None, None)
        elapsed = (now - frame.started) * 1000.0
        self._add(frame.name, elapsed - frame.children_ms)
        if self._active:
            self._active[-1].children_ms += elapsed
        self._last_stopped = frame.name

    def _annotate(self, name: str) -> AbstractContextManager[object] | None:
        """A tf.profiler annotation named like the phase, so the trace viewer shows the same phases
        (only when TensorFlow is already imported; this module never imports it)."""
        if not self.annotate or "tensorflow" not in sys.modules:
            return None
        try:
            annotation = sys.modules["tensorflow"].profiler.experimental.Trace(name)
            annotation.__enter__()
        except Exception:  # an annotation is a convenience: it never breaks the timing
            return None
        return annotation

    def _add(self, name: str, ms: float, wait_ms: float = 0.0) -> None:
        phases, waits = (
            (self._step.phases_ms, self._step.waits_ms)
            if self._step is not None
            else (self._pending_ms, self._pending_waits_ms)
        )
        phases[name] = phases.get(name, 0.0) + ms
        if wait_ms:
            waits[name] = waits.get(name, 0.0) + wait_ms

    @contextmanager
    def phase(self, name: str, sync: bool = False) -> Iterator[PhaseHandle]:
        """Time the body as phase ``name``.

        Args:
            sync: fence after the phase, so it owns its device work (on an asynchronous device a call
                returns before its work is done). Set ``handle.outputs`` to what the body produced
                and the fence waits for exactly that; otherwise the fence's default probe is read.
        """
        handle = PhaseHandle()
        self.start(name)
        try:
            yield handle
        finally:
            self.stop(name)
        if sync:
            self.sync(*(() if handle.outputs is None else (handle.outputs,)))

    # -- input and device -----------------------------------------------------------------------
    def timed(self, iterator: Iterable[_Item]) -> Iterator[_Item]:
        """Yield from ``iterator``, timing each ``next()`` as the input phase.

        Making the iterator (for a ``tf.data.Dataset``, building its pipeline) is input time too.
        Inside :meth:`unprofiled` nothing is timed.
        """
        source: Iterator[_Item] | None = None
        while True:
            timing = self._stretch is None and not self._untimed_input
            if timing:
                self.start(INPUT)
            exhausted = False
            try:
                if source is None:
                    source = iter(iterator)
                item = next(source)
            except StopIteration:
                exhausted = True
            except BaseException:
                if timing:
                    self.stop(INPUT)
                raise
            if exhausted:
                # Out of the except block, nothing refers to the iterator any more: tearing it down
                # (a tf.data iterator joins its threads) happens here, as input time.
                source = None
                if timing:
                    self.stop(INPUT)
                return
            if timing:
                self.stop(INPUT)
            yield item

    def sync(self, *depends_on: TensorLike) -> float:
        """Wait for queued device work (through the fence); returns the wait a phase took over (ms).

        Directly after a phase (nothing timed in between), the wait belongs to that phase: it is
        that phase's device work. The fence's own idle cost, and any wait that follows no phase,
        are timed as ``sync``.
        """
        if self._step is None:
            self.close_block()
        if self.fence is None:
            return 0.0
        owner = self._last_stopped if self._step is not None else None
        start = self.clock()
        self.fence(*depends_on)
        fence_ms = (self.clock() - start) * 1000.0
        if self._active:  # inside an outer phase: the fence's time is not the outer phase's own
            self._active[-1].children_ms += fence_ms
        return self._settle(owner, fence_ms, self._epoch.fence_idle_ms if self._epoch else 0.0)

    def _settle(self, owner: str | None, fence_ms: float, idle_ms: float) -> float:
        """Split a fence's time into the owner's device wait and the fence's own cost; returns the wait."""
        wait = max(0.0, fence_ms - idle_ms) if owner is not None else 0.0
        if wait and owner is not None:
            self._add(owner, wait, wait_ms=wait)
        self._add(SYNC, fence_ms - wait)
        self._last_stopped = None
        return wait

    def call(
        self,
        phase: str,
        fn: Callable[..., _Result],
        *args: object,
        sample: str | None = None,
        fence: bool = True,
    ) -> _Result:
        """Run ``fn(*args)`` as phase ``phase``, then fence on its result, which ``phase`` owns.

        Args:
            phase: the phase the call's time (host and device) goes to.
            fn: typically a ``tf.function``.
            sample: also record the call as ``StepTiming.samples_ms[sample] = [host ms, wait ms]``.
            fence: False: no fence after the call; the step joins the open block (see the module's
                "Blocks"), whose closing fence it shares. Only inside a step, as its one call.

        Returns:
            Whatever ``fn`` returned.

        Raises:
            ValueError: ``fence=False`` outside a step, with a ``sample``, or with another phase than
                the open block's.
        """
        if not fence:
            return self._call_in_block(phase, fn, *args, sample=sample)
        self.start(phase)
        span = self._annotate(PROBE_SPANS.get(sample, sample)) if sample is not None else None
        host_start = self.clock()
        try:
            result = fn(*args)
        finally:
            host_ms = (self.clock() - host_start) * 1000.0
            if span is not None:
                span.__exit__(None, None, None)
            self.stop(phase)
        wait = self.sync(result)
        if sample is not None and self._step is not None:
            self._step.samples_ms[sample] = [host_ms, wait]
        return result

    def _call_in_block(
        self, phase: str, fn: Callable[..., _Result], *args: object, sample: str | None
    ) -> _Result:
        if self._step is None or sample is not None:
            raise ValueError("call(fence=False) runs one step's call inside step(), with no sample")
        if self._block and phase != self._block_phase:
            raise ValueError(f"call(fence=False) as {phase!r} in a block of {self._block_phase!r} calls")
        self.start(phase)
        try:
            result = fn(*args)
        finally:
            self.stop(phase)
        self._block_token, self._block_phase, self._joins_block = result, phase, True
        return result

    @contextmanager
    def block_run(self, phase: str) -> Iterator[BlockStepAdder]:
        """Record a run of block steps the caller times itself: the lean form of ``step(BLOCK)`` with
        one ``call(phase, ..., fence=False)`` inside, for loops whose per-step Python would otherwise
        be a measurable share of a short step (the built-in loop's block steps).

        Yields ``add(input_start, input_end, call_start, call_end, examples, result)``: one step
        whose ``next()`` ran from ``input_start`` to ``input_end`` (clock readings; ``timed()``
        passes ``next()`` through inside the run) and whose call ran from ``call_start`` to
        ``call_end`` unfenced, returning ``result`` (the block's closing fence waits for the last
        one). A step is recorded as ``step()`` would record it: its input as ``INPUT``, its call as
        ``phase``, anything timed since the last step (a progress line) carried into the first; it
        joins the open block, closed at :data:`MAX_BLOCK_STEPS` as there. Call
        :meth:`pending_input` for a ``next()`` that found the data's end. The block stays open
        after the run, as after a ``step(BLOCK)``.

        Raises:
            ValueError: outside an epoch, inside a step or phase, or in a block of another phase.
        """
        if self._epoch is None or self._step is not None or self._active:
            raise ValueError("block_run() must be inside epoch() and outside any step or phase")
        if self._block and phase != self._block_phase:
            raise ValueError(f"block_run() of {phase!r} steps in a block of {self._block_phase!r} calls")
        epoch_start, block, limit = self._epoch_start, self._block, self.max_block_steps

        def add(
            input_start: float,
            input_end: float,
            call_start: float,
            call_end: float,
            examples: int,
            result: TensorLike,
        ) -> None:
            nonlocal block
            phases = self._pending_ms
            if phases or self._pending_started is not None:
                started = input_start if self._pending_started is None else self._pending_started
                waits = self._pending_waits_ms
                self._pending_ms, self._pending_waits_ms, self._pending_started = {}, {}, None
                phases[INPUT] = phases.get(INPUT, 0.0) + (input_end - input_start) * 1000.0
            else:
                started, waits = input_start, {}
                phases = {INPUT: (input_end - input_start) * 1000.0}
            call_ms = (call_end - call_start) * 1000.0
            phases[phase] = phases.get(phase, 0.0) + call_ms
            started_ms = (started - epoch_start) * 1000.0
            block.append(StepTiming(BLOCK, examples, call_ms, phases, waits, {}, started_ms))
            self._block_token = result
            if len(block) >= limit:
                self.close_block()
                block = self._block

        self._block_phase, self._last_stopped, self._untimed_input = phase, None, True
        try:
            yield add
        finally:
            self._untimed_input = False

    def pending_input(self, input_start: float, input_end: float) -> None:
        """Time a ``next()`` outside any step as ``INPUT``, carried to the next step or the epoch
        (inside :meth:`block_run`, the one that found the data's end)."""
        if self._pending_started is None:
            self._pending_started = input_start
        self._add(INPUT, (input_end - input_start) * 1000.0)

    def close_block(self) -> float:
        """Fence the open block of unfenced steps (if any) and record its steps; returns the fence's
        wait the block's compute took over (ms).

        The block's compute (its steps' dispatch plus that wait) is shared equally over its steps
        (each step's phase and its device wait); the fence's idle cost is ``sync`` on the last step,
        whose wall time holds the fence. Called by the loop before any step that is not a block step;
        a fenced step, an unprofiled stretch, :meth:`sync` outside a step and the epoch's end close
        an open block themselves.
        """
        steps, token = self._block, self._block_token
        if not steps:
            return 0.0
        self._block, self._block_token = [], None
        fence_ms = 0.0
        if self.fence is not None:
            start = self.clock()
            self.fence(*(() if token is None else (token,)))
            fence_ms = (self.clock() - start) * 1000.0
        idle_ms = self._epoch.fence_idle_ms if self._epoch is not None else 0.0
        wait = max(0.0, fence_ms - idle_ms) if self.fence is not None else 0.0
        _share_block(steps, self._block_phase, wait, fence_ms - wait)
        if self._epoch is not None:
            self._epoch.steps.extend(steps)
            # the block's steps end here unless a next() ran since (data that ran out mid-plan:
            # that next()'s time is not the last step's)
            last_done = None if INPUT in self._pending_ms else self.clock()
            self._epoch.steps_end_ms = None if last_done is None else (last_done - self._epoch_start) * 1000.0
        return wait

    def _flush_block(self) -> None:
        """Record an open block's steps without its fence (an exception cut the epoch short): each
        keeps an equal share of the block's dispatch time, with no device wait."""
        if self._block and self._epoch is not None:
            _share_block(self._block, self._block_phase, 0.0, 0.0)
            self._epoch.steps.extend(self._block)
        self._block, self._block_token = [], None

    def check_fence(self) -> float | None:
        """Run the coverage fence twice, timed as ``profiling``; return what the first call waited
        beyond the second.

        The main fence should have left nothing queued, so the coverage fence right after it should
        take as long as it takes again at once, on a surely idle device (paired, so the machine's
        state at that moment cancels). A positive leftover means the main fence did not cover all
        of the step's device work. Recorded as the step's ``fence_check``.
        """
        if self.coverage_fence is None or self._step is None:
            return None
        times = []
        for _ in range(2):
            start = self.clock()
            self.coverage_fence()
            times.append((self.clock() - start) * 1000.0)
        self._add(PROFILING, sum(times))
        leftover = max(0.0, times[0] - times[1])
        self._step.fence_check = FenceCheckSample(times[0], leftover)
        self._last_stopped = None
        return leftover

    # -- steps, stretches and epochs ------------------------------------------------------------
    @contextmanager
    def step(self, kind: str = FUSED, examples: int = 0) -> Iterator[StepTiming]:
        """Time one training step; phases inside it are recorded on it."""
        if self._epoch is None:
            raise ValueError("step() must be inside epoch()")
        if self._step is not None:
            raise ValueError("step() was already started; steps do not nest")
        self._joins_block = False
        if kind != BLOCK:
            self.close_block()  # block steps before a fenced one: their fence is theirs, not its
        now = self.clock()
        started = self._pending_started if self._pending_started is not None else now
        record = StepTiming(
            kind=kind,
            examples=examples,
            wall_ms=0.0,
            phases_ms=self._pending_ms,
            waits_ms=self._pending_waits_ms,
            started_ms=(started - self._epoch_start) * 1000.0,
        )
        self._pending_ms, self._pending_waits_ms, self._pending_started = {}, {}, None
        self._last_stopped = None
        self._step, self._step_start = record, now
        try:
            yield record
        finally:
            self._step_end = self.clock()
            record.wall_ms = (self._step_end - self._step_start) * 1000.0
            self._step = None
            self._last_stopped = None
            if self._joins_block:
                self._joins_block = False
                self._block.append(record)
                if len(self._block) >= self.max_block_steps:
                    self.close_block()
            else:
                self._epoch.steps.append(record)
                self._epoch.steps_end_ms = (self._step_end - self._epoch_start) * 1000.0

    @contextmanager
    def unprofiled(self) -> Iterator[_Stretch]:
        """A stretch of steps with no instrumentation: the reference for the profiling cost.

        Nothing inside is timed (``timed()`` passes ``next()`` through); the stretch's wall time runs
        from entry to the end of one fence on exit. Count steps with ``stretch.steps += 1`` and pass
        the last step's token as ``stretch.token`` so the fence waits for it.
        """
        if self._epoch is None or self._step is not None or self._active:
            raise ValueError("unprofiled() must be inside epoch() and outside any step or phase")
        if INPUT in self._pending_ms:
            raise ValueError("unprofiled() must start before the next() of its first step")
        self.close_block()
        stretch = _Stretch(
            started_ms=(self.clock() - self._epoch_start) * 1000.0, before_step=len(self._epoch.steps)
        )
        self._stretch = stretch
        dispatched = None
        try:
            yield stretch
            if self.fence is not None:
                dispatched = self.clock()
                self.fence(*(() if stretch.token is None else (stretch.token,)))
        finally:
            self._stretch = None
            ended = self.clock()
            stretch.wall_ms = (ended - self._epoch_start) * 1000.0 - stretch.started_ms
            stretch.wait_ms = (ended - dispatched) * 1000.0 if dispatched is not None else 0.0
            self._epoch.stretches.append(
                StretchTiming(
                    stretch.started_ms,
                    stretch.steps,
                    stretch.examples,
                    stretch.wall_ms,
                    stretch.before_step,
                    stretch.wait_ms,
                )
            )

    @contextmanager
    def epoch(self) -> Iterator[EpochTiming]:
        """Time one epoch, fenced at both ends so queued device work lands in the right epoch."""
        if self._epoch is not None:
            raise ValueError("epoch() was already started; epochs do not nest")
        record = EpochTiming(index=len(self.epochs), wall_ms=0.0, warmup=self._next_is_warmup)
        self._next_is_warmup = False
        if self.fence is not None:
            self.fence()  # work queued before the epoch is not the epoch's
            record.fence_idle_ms = _idle_ms(self.fence, self.clock)
            record.fence = getattr(self.fence, "name", type(self.fence).__name__)
        gc_started: list[float] = []

        def on_gc(phase: str, info: dict) -> None:
            if phase == "start":
                gc_started.append(self.clock())
            elif gc_started:
                record.gc_ms += (self.clock() - gc_started.pop()) * 1000.0
                record.gc_collections += 1

        self._pending_ms, self._pending_waits_ms, self._pending_started = {}, {}, None
        self._last_stopped = None
        gc.callbacks.append(on_gc)
        self._epoch, self._epoch_start = record, self.clock()
        try:
            yield record
            self.sync()
            record.complete = True
        finally:
            while self._active:  # an exception left phases open: close them, keep the time
                self.stop(self._active[-1].name)
            self._flush_block()  # only an exception leaves a block open here
            record.wall_ms = (self.clock() - self._epoch_start) * 1000.0
            gc.callbacks.remove(on_gc)
            for name, value in self._pending_ms.items():
                record.outside_steps_ms[name] = record.outside_steps_ms.get(name, 0.0) + value
            self._pending_ms, self._pending_waits_ms, self._pending_started = {}, {}, None
            self._epoch = None
            self.epochs.append(record)


def _share_block(steps: list[StepTiming], phase: str, wait_ms: float, idle_ms: float) -> None:
    """Give each of a block's ``steps`` an equal share of its ``phase`` time (their dispatch added up,
    plus the closing fence's ``wait_ms``) and of the wait; the fence's own cost (``idle_ms``) is
    ``sync`` on the last step. Each step's wall time changes by what its phase changed."""
    dispatched = [step.phases_ms.get(phase, 0.0) for step in steps]
    share = (sum(dispatched) + wait_ms) / len(steps)
    for step, own in zip(steps, dispatched):
        step.phases_ms[phase] = share
        if wait_ms:
            step.waits_ms[phase] = wait_ms / len(steps)
        step.wall_ms += share - own
    last = steps[-1]
    last.phases_ms[SYNC] = last.phases_ms.get(SYNC, 0.0) + idle_ms
    last.wall_ms += idle_ms


@dataclass
class PhaseHandle:
    """What ``phase(name, sync=True)`` yields: set ``outputs`` to the phase's result for its fence."""

    outputs: TensorLike = None


@dataclass
class _Frame:
    """An open phase: its full (nested) name, start, time of nested phases and fences inside it."""

    name: str
    started: float
    annotation: AbstractContextManager[object] | None = None
    children_ms: float = 0.0


@dataclass
class _Stretch(StretchTiming):
    #: The last step's token: the stretch's closing fence waits for it.
    token: TensorLike = None


class NullProfiler(PhaseProfiler):
    """Same interface, measures nothing: lets a loop call the profiler unconditionally."""

    def __init__(self) -> None:
        super().__init__(clock=lambda: 0.0, fence=None)

    def start(self, name: str) -> None:
        pass

    def stop(self, name: str) -> None:
        pass

    def timed(self, iterator: Iterable[_Item]) -> Iterator[_Item]:
        return iter(iterator)

    def sync(self, *depends_on: TensorLike) -> float:
        return 0.0

    def call(
        self,
        phase: str,
        fn: Callable[..., _Result],
        *args: object,
        sample: str | None = None,
        fence: bool = True,
    ) -> _Result:
        return fn(*args)

    @contextmanager
    def block_run(self, phase: str) -> Iterator[BlockStepAdder]:
        yield lambda *step: None

    def pending_input(self, input_start: float, input_end: float) -> None:
        pass

    def close_block(self) -> float:
        return 0.0

    def check_fence(self) -> float | None:
        return None

    @contextmanager
    def phase(self, name: str, sync: bool = False) -> Iterator[PhaseHandle]:
        yield PhaseHandle()

    @contextmanager
    def step(self, kind: str = FUSED, examples: int = 0) -> Iterator[StepTiming]:
        yield StepTiming(kind=kind, examples=examples, wall_ms=0.0)

    @contextmanager
    def unprofiled(self) -> Iterator[_Stretch]:
        yield _Stretch(started_ms=0.0)

    @contextmanager
    def epoch(self) -> Iterator[EpochTiming]:
        yield EpochTiming(index=0, wall_ms=0.0)
