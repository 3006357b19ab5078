"""The profiled custom training loop, written with the public profiler API only.

Every step's input wait is timed. Most steps run fused (true throughput) in blocks: dispatched
without a fence, one fence closing the block, whose wait the block's compute owns (shared equally
over its steps). A small share of the fused steps (:attr:`Sampling.fenced_share`) is fenced one by
one, so their compute is each step's own device-true time. A sample of steps runs the probe calls
(empty call, forward only, forward and gradients, then the real fused step) to measure call cost,
forward, backward and optimizer apart. A few short stretches of fused steps run with no
instrumentation at all, as the reference for what profiling costs end to end. The epoch's wall time
is then attributed to phases by :mod:`tfprof_m1.analysis.attribution`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from statistics import median
from typing import Protocol

from tfprof_m1.base.phases import BLOCK, COMPUTE, FUSED, PROBE, PROFILING, UNPROFILED
from tfprof_m1.base.tf_types import TensorLike
from tfprof_m1.collection.epoch_data import EpochBatches, known_length
from tfprof_m1.collection.garbage import GarbageSettler
from tfprof_m1.collection.interrupt import (
    InterruptGuard,
    TrainingInterrupted,
    deferred,
    raise_pending,
    signal_of,
)
from tfprof_m1.collection.memory import MemoryUse, sample_memory
from tfprof_m1.collection.profiler import MAX_BLOCK_STEPS, EpochTiming, PhaseProfiler
from tfprof_m1.collection.steps import StepFacts, TrainSteps
from tfprof_m1.trace.window import TraceWindow

__all__ = [
    "ASSUMED_CUT_COST",
    "ASSUMED_PROBE_COST",
    "COST_GOAL",
    "DEFAULT_BUDGET",
    "DEFAULT_FENCED_SHARE",
    "DEFAULT_MIN_SAMPLES",
    "DEFAULT_REFERENCE_SHARE",
    "DEFAULT_SAMPLE_EVERY",
    "DEFAULT_SAMPLING",
    "EpochResult",
    "PlanCosts",
    "ProbePlan",
    "Sampling",
    "TIMING_ALLOWANCE",
    "cut_cost",
    "probe_cost",
    "run_profiled_loop",
    "run_unprofiled_loop",
]

#: The fixed rule (``--sample-every``, ``--min-samples``; the default is a budget, below): run one
#: step in this many as a probe step. A probe step costs about 1.3 fused steps more (the three extra
#: calls), so 1 in 50 costs about 2-3 % of the epoch, and is measured (``profiling``).
DEFAULT_SAMPLE_EVERY = 50
#: ... but never fewer than this many per epoch, so that two steady epochs pool 20 samples or more.
DEFAULT_MIN_SAMPLES = 10
#: Share of each epoch's steps run unprofiled, as the profiling-cost reference.
DEFAULT_REFERENCE_SHARE = 0.1
#: Longest unprofiled stretch: long enough that the one fence closing it barely matters.
DEFAULT_REFERENCE_STEPS = 20
#: The whole profiling cost the default sampling aims at: at most this share of the epoch.
COST_GOAL = 0.03
#: What the budget cannot plan: the per-step timing (clock readings and a record a step, in every
#: profiled step alike), as a share of a step. On this project's CPU, 60 mnist steps of 2.8 ms: block
#: steps only cost 1.011-1.029 of the unprofiled loop end to end (``benchmarks/overhead.py
#: --blocks-only``), and spend 1.2-1.5 % of the epoch more than a loop timed by hand outside input
#: and compute (``benchmarks/block_path_cost.py``, fences included); more on shorter steps.
TIMING_ALLOWANCE = 0.01
#: The default sampling's budget: everything the sampling adds to a loop that never stops (probe
#: steps, fenced steps, the fences that close blocks and stretches) may cost this share of the
#: epoch's steps' time, over the run: the cost goal less the per-step timing's allowance, so the
#: whole stays within :data:`COST_GOAL` at every length (long epochs spend the budget whole).
DEFAULT_BUDGET = round(COST_GOAL - TIMING_ALLOWANCE, 4)
#: A probe step's extra time, in fused steps, until a steady epoch has measured it (three more calls
#: and their fences; 1.1-1.5 measured on this project's CPU and fake devices).
ASSUMED_PROBE_COST = 1.5
#: A cut's cost, in fused steps, until a steady epoch has measured it. A cut is a fence where a
#: loop that never stops has none: the host's next dispatch no longer overlaps the device's work, so
#: with ``h`` a step's dispatch and ``d`` its device time it costs ``min(h, d)`` (and the fence
#: itself), never more than the step, ``max(h, d)``: one fused step is the bound.
ASSUMED_CUT_COST = 1.0
#: Share of the fused steps fenced one by one when :attr:`Sampling.fenced_share` is given (the
#: default, None, fences the step before each probe step instead). A fence takes away the overlap of
#: the host's next dispatch with the device's work: +7 % of an mnist step on this project's CPU, +41 %
#: under the asynchronous executor (docs/performance.md).
DEFAULT_FENCED_SHARE = 0.02
#: The least probe cost a measurement is taken as (a probe step is never free).
MIN_PROBE_COST = 0.25
#: Fewest unprofiled stretches per epoch, and the fewest steps an epoch needs to have any.
MIN_STRETCHES = 1
MIN_STEPS_FOR_REFERENCE = 10
#: Each epoch's layout (its probe steps, and the probe steps its stretches follow) is shifted from
#: the last one's by this fraction of the epoch: the golden ratio's, whose multiples fill [0, 1) the
#: most evenly. A step's time depends on where it is in the epoch (an input pipeline starting and
#: reaching its end: on this project's CPU the first 10 of 60 mnist steps run 15 % slower than the
#: middle ones, the last 10 up to 18 %), so a stretch always in the middle reads the unprofiled steps
#: too fast; shifted, the stretches pooled over a run cover the epoch's positions evenly.
LAYOUT_STEP = (5**0.5 - 1) / 2


@dataclass(frozen=True)
class PlanCosts:
    """What the sampling's pieces cost, in fused steps (a fused step's time in a loop that never
    stops is 1): measured each steady epoch (:func:`probe_cost`, :func:`cut_cost`), agreed across
    workers (:meth:`ProbePlan.agree`)."""

    #: A probe step's extra time over a fused step (its three extra calls and its fences).
    probe: float = ASSUMED_PROBE_COST
    #: One cut: a fence where a loop that never stops has none (see :data:`ASSUMED_CUT_COST`).
    cut: float = ASSUMED_CUT_COST


@dataclass(frozen=True)
class Sampling:
    """Which steps of an epoch are probe steps, which are fenced, and which run unprofiled.

    An epoch's layout (:meth:`plan`): unprofiled stretches start right after a probe step, whose
    fences have already emptied the device, and the step before each probe step is fenced (by
    default), so the few fences a loop that never stops does not have are shared: a probe step with
    its fenced step and a stretch costs its own calls and three cuts, not five. Where in the epoch
    they fall moves from epoch to epoch (:func:`layout_phase`): a step's time depends on its place
    in the epoch, and a reference always taken at one place would misstate the profiling cost.
    """

    every: int = DEFAULT_SAMPLE_EVERY
    min_samples: int = DEFAULT_MIN_SAMPLES
    #: Share of steps run with no instrumentation (0 disables the end-to-end profiling cost).
    reference_share: float = DEFAULT_REFERENCE_SHARE
    reference_steps: int = DEFAULT_REFERENCE_STEPS
    #: Sampling by budget: what the sampling adds (probe steps, the fenced steps beside them, the
    #: cuts of stretches and blocks) is at most this share of the epoch's steps' time, over the run
    #: (a fraction of a probe step carries to the next epoch, so short epochs pool their samples
    #: across epochs); ``every`` and ``min_samples`` are then not used. None: the fixed rule (1 in
    #: ``every``, at least ``min_samples`` per epoch). :data:`DEFAULT_SAMPLING` has 2 %
    #: (:data:`DEFAULT_BUDGET`).
    budget: float | None = None
    #: Fused steps fenced one by one (kind ``fused``: each step's own device-true time); the others
    #: run in blocks (kind ``block``), one fence each. None (the default): the step before each probe
    #: step, so its fence is the one the probe step needs anyway. A share in [0, 1]: that share of
    #: the fused steps, evenly spaced (a fraction carries to the next epoch), not counted in the
    #: budget; 1.0 fences every fused step.
    fenced_share: float | None = None

    def __post_init__(self) -> None:
        if self.every < 1 or self.min_samples < 0:
            raise ValueError("sample every must be >= 1 and min samples >= 0")
        if self.budget is not None and not 0.0 < self.budget < 1.0:
            raise ValueError("the sampling budget must be a share of the epoch in (0, 1)")
        if not 0.0 <= self.reference_share < 0.5 or self.reference_steps < 1:
            raise ValueError("reference share must be in [0, 0.5) and reference steps >= 1")
        if self.fenced_share is not None and not 0.0 <= self.fenced_share <= 1.0:
            raise ValueError("the fenced share must be a share of the fused steps in [0, 1]")

    @classmethod
    def from_options(
        cls,
        every: int | None,
        min_samples: int | None,
        reference_share: float,
        fenced_share: float | None = None,
    ) -> Sampling:
        """The command line's sampling: by budget (:data:`DEFAULT_BUDGET`) while neither
        ``--sample-every`` nor ``--min-samples`` is given (None); the fixed rule once either is, even
        at its default value, the other at its default. ``fenced_share``: ``--fenced-share``."""
        chosen = every is not None or min_samples is not None
        every = DEFAULT_SAMPLE_EVERY if every is None else every
        min_samples = DEFAULT_MIN_SAMPLES if min_samples is None else min_samples
        budget = None if chosen else DEFAULT_BUDGET
        return cls(every, min_samples, reference_share, budget=budget, fenced_share=fenced_share)

    def stretch_length(self, steps: int) -> int:
        """Steps in each unprofiled stretch of an epoch of ``steps`` steps: ``reference_steps``, at
        most a third of the epoch; 0 without a reference (``reference_share`` 0, or fewer than
        :data:`MIN_STEPS_FOR_REFERENCE` steps)."""
        if self.reference_share <= 0 or steps < MIN_STEPS_FOR_REFERENCE:
            return 0
        return max(1, min(self.reference_steps, steps // 3))

    def stretch_count(self, steps: int, carried: float = 0.0, at_least: int = 0) -> tuple[int, float]:
        """How many stretches an epoch of ``steps`` steps runs, and the reference credit (in steps)
        carried to the next epoch. The epoch's credit is ``reference_share`` of its steps plus what
        the last epoch carried, spent in whole stretches of :meth:`stretch_length` steps, at most
        half the epoch's steps; so an epoch shorter than ten stretches' worth pools its reference
        with the next ones' (at 60 steps an epoch, one stretch of 20 steps about every third epoch)
        and pays its two cuts that seldom. ``at_least``: run this many even over the credit (a debt
        later epochs pay back)."""
        length = self.stretch_length(steps)
        if length == 0:
            return 0, 0.0
        credit = carried + self.reference_share * steps
        count = min(max(at_least, int(credit / length + 1e-9)), max(1, steps // 2 // length))
        return count, credit - count * length

    def stretch_shape(self, steps: int) -> tuple[int, int]:
        """(count, length) of the unprofiled stretches of a run's first epochs, which run one at
        least (:meth:`stretch_count`); (0, 0) under :data:`MIN_STEPS_FOR_REFERENCE` steps."""
        length = self.stretch_length(steps)
        return (self.stretch_count(steps, at_least=1)[0], length) if length else (0, 0)

    def unprofiled_steps(
        self, steps: int, probes: int | None = None, stretches: int | None = None, phase: float = 0.5
    ) -> list[range]:
        """The unprofiled stretches of an epoch of ``steps`` steps (see :meth:`plan`), never at
        step 0."""
        runs: list[range] = []
        plan = self.plan(steps, probes=probes, stretches=stretches, phase=phase)
        for index, kind in enumerate(plan):
            if kind != UNPROFILED:
                continue
            if runs and runs[-1].stop == index:
                runs[-1] = range(runs[-1].start, index + 1)
            else:
                runs.append(range(index, index + 1))
        return runs

    def budget_spent(self, steps: int, probes: int, costs: PlanCosts, stretches: int | None = None) -> float:
        """What an epoch of ``steps`` steps with ``probes`` probe steps costs (fused steps) beyond a
        loop that never stops, as :meth:`plan` lays it out: each probe step its extra calls and the
        cut before it (and the fenced step's, by default); each stretch the cut that closes it, one
        more for a stretch with no probe step before it; a block closed at
        :data:`~tfprof_m1.collection.profiler.MAX_BLOCK_STEPS` steps one cut. The epoch's last block
        is closed by the fence the epoch ends with, as a loop that never stops ends it: no cut.
        ``stretches``: the epoch's count (:meth:`stretch_count`); None: :meth:`stretch_shape`'s."""
        count, length = self.stretch_shape(steps)
        if stretches is not None:
            count = stretches if length else 0
        paired = 2 if self.fenced_share is None else 1
        alone = max(0, count - probes)  # stretches with no probe step before them
        profiled = max(0, steps - count * length)
        segments = probes + alone + 1  # runs of block steps between cuts, taken as even
        closes = segments * max(0, math.ceil(profiled / segments / MAX_BLOCK_STEPS) - 1)
        cuts = probes * paired + count + alone + closes
        return probes * max(costs.probe, MIN_PROBE_COST) + cuts * costs.cut

    def probe_count(
        self,
        steps: int,
        costs: PlanCosts = PlanCosts(),
        carried: float = 0.0,
        at_least: int = 1,
        stretches: int | None = None,
    ) -> tuple[int, float]:
        """Under the budget: how many of an epoch's ``steps`` run as probes, and the credit (in fused
        steps) carried to the next epoch. The epoch's credit is the budget's share of its steps plus
        what the last epoch carried; its stretches and blocks are paid first (:meth:`budget_spent`),
        then as many probe steps as the rest pays for. An epoch that cannot pay for one runs none
        and carries its credit, so short epochs pool their probes across epochs.

        Args:
            costs: the pieces' costs in fused steps (measured by :func:`probe_cost` and
                :func:`cut_cost`).
            carried: what the previous epoch carried; negative: a debt (a probe step run over the
                budget, below, is paid back by later epochs).
            at_least: run this many even over the budget (the loop asks one of a run's first two
                epochs, so the warm-up traces the probe calls and the first steady epoch has parts).
            stretches: the epoch's unprofiled stretches (:meth:`stretch_count`); None:
                :meth:`stretch_shape`'s.
        """
        if self.budget is None:
            raise ValueError("probe_count is the budget's rule; this sampling has no budget")
        steps = max(0, steps)
        credit = carried + self.budget * steps
        paired = 2 if self.fenced_share is None else 1
        each = max(costs.probe, MIN_PROBE_COST) + paired * costs.cut  # a probe step past the first few
        spent = partial(self.budget_spent, steps, costs=costs, stretches=stretches)
        count = min(steps, max(0, int((credit - spent(0)) / each)))
        tolerance = 1e-9  # 0.4 five times is 2, not 1.999...
        while count < steps and spent(count + 1) <= credit + tolerance:
            count += 1
        while count > 0 and spent(count) > credit + tolerance:
            count -= 1
        count = min(max(at_least, count), steps)
        return count, credit - spent(count)

    def probe_steps(
        self, steps: int, exclude: Iterable[int] = (), count: int | None = None, phase: float = 0.5
    ) -> frozenset[int]:
        """Indices of the probe steps among the epoch's steps that are not in ``exclude``.

        Evenly spaced, offset by half a stride, so the first step (which also waits for the input
        pipeline to start) is never a sample when the epoch has more than one step. ``count``: that
        many (the budget's), instead of 1 in ``every`` and at least ``min_samples``, offset by
        ``phase`` of a stride (in [0, 1); the first step still never, where another is free).
        """
        excluded = set(exclude)
        profiled = [index for index in range(max(0, steps)) if index not in excluded]
        if not profiled:
            return frozenset()
        if count is not None:
            count = min(count, len(profiled))
            at = [int((k + phase) * len(profiled) / count) for k in range(count)]
            if at and at[0] == 0 and len(profiled) > 1 and (count == 1 or at[1] > 1):
                at[0] = 1
            return frozenset(profiled[index] for index in at)
        stride = self.every
        if self.min_samples and len(profiled) // stride < self.min_samples:
            stride = max(1, len(profiled) // self.min_samples)
        first = stride // 2 if len(profiled) > 1 else 0
        return frozenset(profiled[first::stride])

    def fenced_count(self, fused: int, carried: float = 0.0) -> tuple[int, float]:
        """How many of an epoch's ``fused`` steps are fenced one by one under a ``fenced_share``,
        and the fraction carried to the next epoch (short epochs pooling as the budget's probes do);
        (0, 0) without a share (the steps before probe steps are fenced instead)."""
        if self.fenced_share is None:
            return 0, 0.0
        credit = carried + self.fenced_share * max(0, fused)
        count = min(int(credit + 1e-9), max(0, fused))
        return count, max(0.0, credit - count)

    def plan(
        self,
        steps: int,
        probes: int | None = None,
        fenced: int | None = None,
        stretches: int | None = None,
        phase: float = 0.5,
    ) -> list[str]:
        """The kind of each step of an epoch: ``fused`` (fenced one by one), ``block`` (fused, in a
        block), ``probe`` or ``unprofiled``.

        The stretches are placed first (:meth:`stretch_starts`: tiles of the epoch from its third
        step, ``phase`` choosing which), each right after a probe step: under the budget a probe
        step is put there (an epoch with fewer probe steps than stretches pairs them evenly; a
        stretch left alone costs a cut more); the fixed rule's probe steps stay put (1 in
        ``every``, offset half a stride) and each stretch follows the one nearest its tile. The
        budget's other probe steps are spread evenly over the rest at ``(k + phase)`` strides, never
        the first step. The epoch's last block is closed by the fence the epoch ends with anyway
        (before the ``next()`` that finds the data's end; its end ends the last step's span,
        ``EpochTiming.steps_end_ms``), so it costs no cut.

        ``probes``: how many probe steps (the budget's count for this epoch); None: the budget's
        first epoch (:data:`ASSUMED_PROBE_COST`), or the fixed rule without a budget.
        ``fenced``: under a ``fenced_share``, how many fused steps are fenced, evenly spaced; None:
        that share of them, with nothing carried. Without one (the default), the step before each
        probe step is fenced.
        ``stretches``: how many unprofiled stretches (:meth:`stretch_count`, pooled over epochs);
        None: those of a run's first epochs (:meth:`stretch_shape`).
        ``phase``: in [0, 1), where this epoch's layout falls (:func:`layout_phase`; 0.5 centred).
        """
        count, length = self.stretch_shape(steps)
        if stretches is not None:
            count = stretches if length else 0
        profiled = max(0, steps - count * length)
        if probes is None and self.budget is not None:
            probes = self.probe_count(steps, stretches=count)[0]
        # each stretch's place among the profiled steps: the index of the step right before it
        after = [
            start - 1 - k * length for k, start in enumerate(self.stretch_starts(steps, count, length, phase))
        ]
        if probes is None:  # the fixed rule: each stretch follows the probe step nearest its tile
            chosen = sorted(self.probe_steps(profiled))
            free = list(chosen)
            for k, target in enumerate(after):
                if free:
                    nearest = min(free, key=lambda index: (abs(index - target), index))
                    free.remove(nearest)
                    after[k] = nearest
            after.sort()
        else:
            paired = min(count, probes)
            with_probe = {int((k + 0.5) * count / paired) for k in range(paired)}
            chosen = [after[k] for k in sorted(with_probe)]
            rest = self.probe_steps(profiled, exclude=chosen, count=probes - paired, phase=phase)
            chosen = sorted({*chosen, *rest})
        kinds = [BLOCK] * profiled
        for index in chosen:
            kinds[index] = PROBE
        if self.fenced_share is None:
            for index in chosen:
                if index > 0 and kinds[index - 1] == BLOCK:
                    kinds[index - 1] = FUSED
        else:
            fused = [i for i, kind in enumerate(kinds) if kind == BLOCK]
            fenced = min(self.fenced_count(len(fused))[0] if fenced is None else fenced, len(fused))
            for k in range(fenced):
                kinds[fused[int((k + 0.5) * len(fused) / fenced)]] = FUSED
        plan: list[str] = []
        for index, kind in enumerate(kinds):
            plan.append(kind)
            plan.extend([UNPROFILED] * (length * after.count(index)))
        return plan

    @staticmethod
    def stretch_starts(steps: int, count: int, length: int, phase: float = 0.5) -> list[int]:
        """First steps of an epoch's ``count`` stretches of ``length`` steps, ascending.

        The epoch from its third step (step 0 also starts the input pipeline; step 1 is left for
        the probe step before a stretch) is cut into tiles of about ``length`` steps, evenly spaced
        from its start to its end; an epoch's stretches take tiles spread evenly over them, the
        first at ``phase`` of the way. Over a run whose phase moves by :data:`LAYOUT_STEP` an
        epoch, every tile is taken about as often, so the stretches pooled cover every step of the
        epoch about equally: the reference is an epoch's average step, not its middle's.
        """
        first = min(2, max(0, steps - count * length))
        span = steps - first
        if count <= 0 or length <= 0 or span < count * length:
            return []
        tiles = max(count, math.ceil(span / length))
        spacing = (span - length) / (tiles - 1) if tiles > 1 else 0.0
        base = int(phase * tiles) % tiles
        taken = sorted({(base + round(k * tiles / count)) % tiles for k in range(count)})
        starts: list[int] = []
        for tile in taken:
            start = first + round(tile * spacing) if tiles > 1 else first + (span - length) // 2
            if starts:
                start = max(start, starts[-1] + length)  # never overlapping
            starts.append(min(start, steps - length * (count - len(starts))))
        return starts


def layout_phase(epoch: int) -> float:
    """Where epoch ``epoch`` of a run places its probe steps and stretches (``Sampling.plan``'s
    ``phase``): 0.5 (centred) for the first, then moved by :data:`LAYOUT_STEP` an epoch. The same on
    every worker (it depends on the epoch's number alone)."""
    return (0.5 + epoch * LAYOUT_STEP) % 1.0


#: The default sampling: probe steps by a budget of 2 % of the epoch's time, pooled over epochs.
DEFAULT_SAMPLING = Sampling(budget=DEFAULT_BUDGET)


def probe_cost(epoch: EpochTiming) -> float | None:
    """A probe step's extra time in fused steps, from one epoch's raw timings: the median probe
    step's wall time over the median fused step's (fenced or in a block: a block step's wall time
    holds its share of the block's compute and fence), less one; None without both kinds of step."""
    probes: list[float] = []
    fused: list[float] = []
    for kind, wall in zip(epoch.steps.kinds(), epoch.steps.wall_ms):
        if kind == PROBE:
            probes.append(wall)
        elif kind in (FUSED, BLOCK):
            fused.append(wall)
    if not probes or not fused or median(fused) <= 0:
        return None
    return median(probes) / median(fused) - 1.0


def cut_cost(epoch: EpochTiming) -> float | None:
    """A cut's cost in fused steps, from one epoch's unprofiled stretches: the median stretch's edge
    (:attr:`~tfprof_m1.collection.profiler.StretchTiming.edge_ms`, ``min(h, d)``: the overlap a
    fence takes away) plus one fence's own time on the idle device, over the stretches' steady
    per-step time; None without a stretch. On a synchronous device (no wait) it is the fence's own
    time: a fence there takes no overlap away."""
    stretches = [s for s in epoch.stretches if s.steps > 0]
    step_ms = sum(s.steady_ms for s in stretches) / max(1, sum(s.steps for s in stretches))
    if not stretches or step_ms <= 0:
        return None
    return (median(s.edge_ms for s in stretches) + epoch.fence_idle_ms) / step_ms


#: Costs are agreed across workers in thousandths of a fused step, as whole numbers: a float32
#: all-reduce sums whole numbers below 2**24 exactly, in any order, so every worker reads the same
#: total. A cost is taken as at most :data:`MAX_AGREED_COST` (100 000 thousandths: exact up to 167
#: workers).
COST_QUANTUM = 1000
#: The next epoch is planned at the median cost of this many last steady epochs that measured it.
COST_EPOCHS = 3
MAX_AGREED_COST = 100.0


def _agreed_part(measured: float | None) -> list[float]:
    if measured is None or not math.isfinite(measured):
        return [0.0, 0.0]
    return [float(round(min(max(measured, 0.0), MAX_AGREED_COST) * COST_QUANTUM)), 1.0]


@dataclass
class ProbePlan:
    """The kind of each step of each epoch of one run, epoch after epoch.

    Under the budget an epoch's probe count follows from the costs measured so far and the credit
    carried (:meth:`Sampling.probe_count`); a run's first two epochs run one at least (the warm-up's
    traces the probe calls; the first steady epoch's gives the parts), later epochs run none while
    their credit pays for none. Under a multi-worker strategy a probe step runs other collectives
    than a fused step, so every worker must plan the same steps: the costs each worker measured are
    agreed through :meth:`share` (what this worker contributes), a sum over the workers
    (``TrainSteps.all_sum``), and :meth:`agree`, which derives the costs from that sum alone.
    """

    sampling: Sampling
    costs: PlanCosts = PlanCosts()
    carried: float = 0.0
    epochs: int = 0
    #: The fraction of a fenced fused step carried to the next epoch (:meth:`Sampling.fenced_count`).
    fenced_carried: float = 0.0
    #: The reference credit (steps) carried to the next epoch (:meth:`Sampling.stretch_count`).
    reference_carried: float = 0.0
    #: The last epoch planned under the budget: (its steps, its probe steps, the credit carried into
    #: it, its stretches), so :meth:`agree` settles what it spent at the costs measured in it.
    last: tuple[int, int, float, int] | None = None
    #: The agreed costs of the last :data:`COST_EPOCHS` steady epochs that measured each (probe, cut).
    cost_history: tuple[list[float], list[float]] = field(default_factory=lambda: ([], []))

    @property
    def cost(self) -> float:
        """The probe step's extra time in fused steps the plan uses now."""
        return self.costs.probe

    def next_epoch(self, steps: int) -> list[str]:
        """The plan of the next epoch of ``steps`` steps (see :meth:`Sampling.plan`). A run's first
        two epochs run one unprofiled stretch at least and, under the budget, one probe step at
        least: the warm-up's, over the budget, leave no debt (the warm-up is not in the steady
        epochs the cost is stated for); the first steady epoch's do, paid back by later epochs."""
        at_least = 1 if self.epochs < 2 else 0
        stretches, self.reference_carried = self.sampling.stretch_count(
            steps, self.reference_carried, at_least
        )
        probes = None
        if self.sampling.budget is not None:
            before = self.carried
            probes, self.carried = self.sampling.probe_count(
                steps, self.costs, self.carried, at_least, stretches
            )
            self.last = (steps, probes, before, stretches)
        if self.epochs == 0:
            self.carried = max(0.0, self.carried)
            self.reference_carried = 0.0
        fenced = None
        if self.sampling.fenced_share is not None:
            unprofiled = stretches * self.sampling.stretch_length(steps)
            fused = max(0, steps - unprofiled - (probes if probes is not None else 0))
            if probes is None:  # the fixed rule: its probe steps among the profiled ones
                fused -= len(self.sampling.probe_steps(max(0, steps - unprofiled)))
            fenced, self.fenced_carried = self.sampling.fenced_count(fused, self.fenced_carried)
        phase = layout_phase(self.epochs)
        self.epochs += 1
        return self.sampling.plan(steps, probes=probes, fenced=fenced, stretches=stretches, phase=phase)

    @staticmethod
    def share(probe: float | None, cut: float | None = None) -> list[float]:
        """This worker's part of the agreement: for the probe cost and the cut cost each, [the
        measured cost in whole thousandths of a fused step, 1], or [0, 0] when it measured none (a
        warm-up epoch, no probe step, no stretch)."""
        return _agreed_part(probe) + _agreed_part(cut)

    def agree(self, totals: Sequence[float]) -> PlanCosts:
        """Take the costs from ``totals`` (every worker's :meth:`share` summed, identical on every
        worker) measured in the epoch just run: their means, or the costs so far where none
        measured one. The epoch's spending is settled at these costs (it was planned at the costs
        known before it: the first steady epoch at the assumed ones), so the credit carried on is
        what it really left. The next epochs are planned at the median of the last
        :data:`COST_EPOCHS` epochs' costs (each epoch's rests on a few probe steps and stretches:
        one noisy epoch would swing the next one's probe count). Returns the costs planned at."""
        probe_total, probe_count, cut_total, cut_count = totals
        measured = PlanCosts(
            probe_total / probe_count / COST_QUANTUM if probe_count > 0 else self.costs.probe,
            cut_total / cut_count / COST_QUANTUM if cut_count > 0 else self.costs.cut,
        )
        for history, count, value in zip(
            self.cost_history, (probe_count, cut_count), (measured.probe, measured.cut)
        ):
            if count > 0:
                history.append(value)
                del history[:-COST_EPOCHS]
        if self.last is not None and self.sampling.budget is not None:
            steps, probes, before, stretches = self.last
            credit = before + self.sampling.budget * steps
            self.carried = credit - self.sampling.budget_spent(steps, probes, measured, stretches)
        probe_costs, cut_costs = self.cost_history
        self.costs = PlanCosts(
            median(probe_costs) if probe_costs else self.costs.probe,
            median(cut_costs) if cut_costs else self.costs.cut,
        )
        return self.costs


@dataclass
class EpochResult:
    """What one epoch of the loop produced besides its timings."""

    timing: EpochTiming
    loss: float | None
    accuracy: float | None
    #: Where the loss became NaN or infinite, if it did in this epoch: the global steps of the last
    #: probe step that saw it finite and the first that did not (probe steps are fenced, so checking
    #: costs one read there); None when no probe step saw it.
    non_finite_steps: tuple[int | None, int] | None = None
    #: Host and device memory after the epoch, and why device figures are missing (if they are).
    memory: MemoryUse | None = None
    memory_note: str | None = None
    #: The data ran out before ``steps_per_epoch`` batches (Keras' "Your input ran out of data").
    ran_out_of_data: bool = False
    #: What the steps trained with (policy, XLA, input dtype), for the report's fingerprint.
    facts: StepFacts | None = None
    #: Why accuracy is None, when the steps could not measure it as Keras does.
    accuracy_note: str | None = None


EpochCallback = Callable[[EpochResult], None]


class StepProgress(Protocol):
    """Shown progress inside an epoch: called with (epoch index, steps done, steps per epoch) at
    most every ``interval_s`` seconds, inside the ``profiling`` phase (its cost is the profiler's)."""

    interval_s: float

    def __call__(self, epoch: int, step: int, steps: int) -> None: ...


def run_profiled_loop(
    train_steps: TrainSteps,
    dataset: Iterable[TensorLike],
    epochs: int,
    steps_per_epoch: int | None,
    profiler: PhaseProfiler,
    sampling: Sampling = DEFAULT_SAMPLING,
    on_epoch_end: EpochCallback | None = None,
    trace: TraceWindow | None = None,
    stop_on_non_finite: bool = False,
    on_step: StepProgress | None = None,
) -> list[EpochResult]:
    """Train for ``epochs`` epochs over ``dataset``, profiled.

    Args:
        train_steps: the fused and probe steps of the model.
        dataset: yields ``(images, labels)`` batches. Under a strategy (DistributedTrainSteps),
            global batches: the steps split them across replicas.
        epochs: how many epochs.
        steps_per_epoch: batches per epoch, read as Keras' ``fit`` reads them
            (:mod:`tfprof_m1.collection.epoch_data`): one iterator kept across epochs, so an
            infinite ``dataset.repeat()`` works; data that run out end the epoch with Keras'
            warning. None: each epoch reads the whole dataset, whose length must then be known.
            The probe steps and unprofiled stretches are placed over this many steps.
        profiler: records the timings; its fence waits for the device.
        sampling: which steps are probes and which run unprofiled.
        on_epoch_end: called after each epoch, for progress.
        trace: a tf.profiler window; steps are numbered globally from 0 across epochs. Traced steps
            always run profiled. The window is closed when the loop ends, even by an exception.
        stop_on_non_finite: end the loop after the epoch whose loss is NaN or infinite (the results
            then have fewer than ``epochs`` epochs). Either way, each result says at which probe
            steps the loss was last seen finite and first seen not (``non_finite_steps``).
        on_step: progress inside epochs (a bar, a line every few seconds), called between
            profiled steps at most every ``on_step.interval_s``; its time counts as ``profiling``.

    Garbage is collected and frozen before each epoch, outside its timing, and unfrozen when the
    loop ends (see :mod:`tfprof_m1.collection.garbage`).

    Probe steps leave the model as fused steps would: what their extra forward passes in training
    mode write (BatchNorm's moving statistics, random-generator state) is put back, outside their
    timing (see :meth:`TrainSteps.probe`).

    Raises:
        ValueError: ``steps_per_epoch`` None for a dataset of unknown or infinite length.
        TrainingInterrupted: Ctrl-C (or a SIGTERM a guard turned into a stop) ended the loop, at once
            or at the next step if it landed where Python ignores exceptions (see
            :mod:`tfprof_m1.collection.interrupt`). Its ``partial`` holds the finished epochs' results and,
            last,
            the cut-short epoch (``timing.complete`` False, no loss) if it timed any step; the trace
            window is closed first, so what it recorded is saved. ``build_report(error.partial, ...)``
            reports them.
    """
    results: list[EpochResult] = []
    length = known_length(dataset)
    if steps_per_epoch is None:
        steps_per_epoch = length
        if steps_per_epoch is None:
            raise ValueError(
                "steps_per_epoch is needed: the dataset's length is unknown or infinite (repeat(), a "
                "generator, filter()); pass the batches per epoch, as for Keras' fit"
            )
    batches = EpochBatches(train_steps.distribute(dataset), steps_per_epoch, length)
    profiler.begin_run()
    try:
        _train(
            train_steps,
            batches,
            epochs,
            steps_per_epoch,
            profiler,
            sampling,
            on_epoch_end,
            trace,
            results,
            stop_on_non_finite,
            on_step,
        )
    except KeyboardInterrupt as error:
        cut_short = profiler.epochs[-1] if profiler.epochs and not profiler.epochs[-1].complete else None
        if (
            cut_short is not None
            and (cut_short.steps or cut_short.stretches)
            and all(r.timing is not cut_short for r in results)
        ):
            results.append(EpochResult(timing=cut_short, loss=None, accuracy=None))
        raise TrainingInterrupted(signal_of(error), results) from error
    return results


def _train(
    train_steps: TrainSteps,
    data: EpochBatches,
    epochs: int,
    steps_per_epoch: int,
    profiler: PhaseProfiler,
    sampling: Sampling,
    on_epoch_end: EpochCallback | None,
    trace: TraceWindow | None,
    results: list[EpochResult],
    stop_on_non_finite: bool,
    on_step: StepProgress | None = None,
) -> None:
    # Stops are deferred to step boundaries: see tfprof_m1.collection.interrupt for why.
    with GarbageSettler() as garbage, _closing(trace), InterruptGuard() as interrupt, deferred():
        planner = ProbePlan(sampling)
        global_step = 0
        samples = 0
        for _ in range(epochs):
            plan = planner.next_epoch(steps_per_epoch)
            garbage.settle(results[-1].timing.wall_ms if results else None)
            train_steps.reset_metrics()
            finite_at: int | None = None
            non_finite_by: int | None = None
            with profiler.epoch() as epoch:
                batches = profiler.timed(data.epoch())
                index = 0
                shown = profiler.clock()
                while True:
                    interrupt.check()  # a stop that arrived during the last step
                    kind = plan[index] if index < len(plan) else FUSED
                    if kind == BLOCK and _traced(trace, global_step, 1):
                        kind = FUSED  # traced steps run fenced, each its own
                    if kind == BLOCK:
                        length = _run_length(plan, index, BLOCK)
                        # the first step past a schedule's cycle stops its session: steps pass the
                        # window one by one while a session runs
                        if not _traced(trace, global_step, length) and not (
                            trace is not None and trace.running
                        ):
                            until = shown + on_step.interval_s if on_step is not None else math.inf
                            done, exhausted = _block_run(train_steps, batches, profiler, length, until)
                            index, global_step = index + done, global_step + done
                            if exhausted:
                                break
                            shown = _show_progress(
                                on_step, profiler, shown, epoch.index, index, steps_per_epoch
                            )
                            continue
                    else:
                        profiler.close_block()  # before the next(), as a fenced step's own fence is
                    if kind == UNPROFILED:
                        length = _run_length(plan, index, UNPROFILED)
                        if not _traced(trace, global_step, length):
                            done, exhausted = _unprofiled_stretch(train_steps, batches, profiler, length)
                            index, global_step = index + done, global_step + done
                            if exhausted:
                                break
                            continue
                        kind = FUSED
                    # The trace marks the whole step, the input next() included, so XProf counts input.
                    marker = (
                        trace.step(global_step)
                        if trace is not None and index < steps_per_epoch
                        else contextlib.nullcontext()
                    )
                    with marker:
                        batch = next(batches, None)
                        if batch is None:
                            break
                        images, labels = batch
                        with profiler.step(kind, examples=train_steps.examples(images)):
                            if kind == PROBE:
                                train_steps.probe(images, labels, profiler, rotation=samples)
                                samples += 1
                                if non_finite_by is None:
                                    with profiler.phase(PROFILING):
                                        if train_steps.loss_is_finite():
                                            finite_at = global_step
                                        else:
                                            non_finite_by = global_step
                            else:
                                fence = kind != BLOCK
                                profiler.call(COMPUTE, train_steps.fused, images, labels, fence=fence)
                    index, global_step = index + 1, global_step + 1
                    shown = _show_progress(on_step, profiler, shown, epoch.index, index, steps_per_epoch)
            del batches  # the epoch's iterator is garbage before the next epoch settles
            if sampling.budget is not None and not epoch.is_warmup:  # warm-up probes trace: not measured
                # Every worker's plan must match (a probe step's collectives differ): agreed, not local.
                planner.agree(train_steps.all_sum(planner.share(probe_cost(epoch), cut_cost(epoch))))
            loss, accuracy = train_steps.read_metrics()
            steps = (finite_at, non_finite_by) if non_finite_by is not None else None
            memory, memory_note = sample_memory()
            result = EpochResult(
                timing=epoch,
                loss=loss,
                accuracy=accuracy,
                non_finite_steps=steps,
                memory=memory,
                memory_note=memory_note,
                ran_out_of_data=data.ran_out[-1],
                facts=replace(train_steps.facts(), input_path=data.input_path()),
                accuracy_note=train_steps.accuracy_note,
            )
            results.append(result)
            if on_epoch_end is not None:
                on_epoch_end(result)
            if stop_on_non_finite and _non_finite_anywhere(train_steps, loss):
                break


def _non_finite_anywhere(train_steps: TrainSteps, loss: float | None) -> bool:
    """Whether any worker's epoch loss is NaN or infinite. Under a multi-worker strategy each worker
    reads the loss of its own examples; one all-reduce of a flag lets every worker stop after the
    same epoch (a worker that stopped alone would leave the others waiting in their next collective).
    One process: its own loss."""
    non_finite = loss is not None and not math.isfinite(loss)
    return train_steps.all_sum([1.0 if non_finite else 0.0])[0] > 0


def _closing(trace: TraceWindow | None) -> contextlib.AbstractContextManager:
    """Close the trace window when the loop ends, however it ends: a window that runs past the
    loop's last step must not leave a profiler session recording whatever runs next."""
    return contextlib.nullcontext() if trace is None else contextlib.closing(trace)


def _run_length(plan: list[str], index: int, kind: str) -> int:
    length = 0
    while index + length < len(plan) and plan[index + length] == kind:
        length += 1
    return length


def _traced(trace: TraceWindow | None, first: int, length: int) -> bool:
    return trace is not None and trace.covers(first, length)


def _show_progress(
    on_step: StepProgress | None, profiler: PhaseProfiler, shown: float, epoch: int, step: int, steps: int
) -> float:
    """Call ``on_step`` if its interval has passed since ``shown`` (a clock reading), timed as
    ``profiling``; returns when progress was last shown."""
    if on_step is None or profiler.clock() - shown < on_step.interval_s:
        return shown
    with profiler.phase(PROFILING):
        on_step(epoch, step, steps)
    return profiler.clock()


def _block_run(
    train_steps: TrainSteps, batches: Iterator[TensorLike], profiler: PhaseProfiler, length: int, until: float
) -> tuple[int, bool]:
    """Run up to ``length`` block steps, or until the clock passes ``until`` (a progress line is
    due); returns (steps run, data exhausted).

    The same records as ``step(BLOCK)`` around ``call(COMPUTE, fused, fence=False)``, in a tight loop
    with four clock readings a step (:meth:`PhaseProfiler.block_run`): on a real device the per-step
    Python of the general path cost 2-3 % of a short mnist step (docs/performance.md)."""
    clock, fused, examples = profiler.clock, train_steps.fused, train_steps.examples
    with profiler.block_run(COMPUTE) as add:
        for done in range(length):
            raise_pending()  # a stop that arrived during the last step
            input_start = clock()
            batch = next(batches, None)
            input_end = clock()
            if batch is None:
                profiler.pending_input(input_start, input_end)
                return done, True
            images, labels = batch
            count = examples(images)
            call_start = clock()
            result = fused(images, labels)
            call_end = clock()
            add(input_start, input_end, call_start, call_end, count, result)
            if call_end >= until:
                return done + 1, False
    return length, False


def _unprofiled_stretch(
    train_steps: TrainSteps, batches: Iterator[TensorLike], profiler: PhaseProfiler, length: int
) -> tuple[int, bool]:
    """Run up to ``length`` fused steps with no instrumentation; returns (steps run, data exhausted)."""
    with profiler.unprofiled() as stretch:
        for _ in range(length):
            raise_pending()
            batch = next(batches, None)
            if batch is None:
                return stretch.steps, True
            stretch.token = train_steps.fused(*batch)
            stretch.steps += 1
            stretch.examples += train_steps.examples(batch[0])
    return stretch.steps, False


def run_unprofiled_loop(
    train_steps: TrainSteps, dataset: Iterable[TensorLike], fence: Callable[..., None]
) -> None:
    """One epoch of fused steps with no timing at all: the baseline the profiling cost is measured against."""
    token = None
    for images, labels in dataset:
        token = train_steps.fused(images, labels)
    fence(*(() if token is None else (token,)))
