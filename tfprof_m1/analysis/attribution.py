"""Turn raw epoch timings into a phase breakdown that adds up to the epoch's wall time.

Fused steps are the true throughput but time call, forward, backward and optimizer as one
device-inclusive ``compute``. Probe samples (see steps.py) measure the four apart; their median
proportions, pooled over the steady epochs, divide each fused step's compute. Loops without probes
but with split steps use the split steps' own parts instead, whatever they are named
(forward/backward/optimizer, or a research loop's clip, ``generator/backward``...). Whatever the
measured phases do not cover is ``other``: it is computed, never hidden.

Pure Python: works on :class:`~tfprof_m1.collection.profiler.EpochTiming` records, imports no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from statistics import median

import numpy as np

from tfprof_m1.analysis.estimate import is_probe_sample, part_medians, proportions
from tfprof_m1.analysis.steady import steady_epochs
from tfprof_m1.base.phases import (
    BLOCK,
    COMPUTE,
    INPUT,
    OTHER,
    PROFILING,
    SPLIT,
    SYNC,
    TRACE,
    UNPROFILED,
)
from tfprof_m1.base.stats import pairwise_sum
from tfprof_m1.collection.profiler import (
    MAX_BLOCK_STEPS,
    EpochTiming,
    FenceCheckSample,
    StepTiming,
    StretchTiming,
)
from tfprof_m1.report.step_codec import ProbeSamples, StepKinds, joined_samples

__all__ = [
    "EpochBreakdown",
    "attribute_epoch",
    "epoch_samples",
    "attribute_epochs",
    "profiled_blocks",
    "sample_proportions",
    "steady_epochs",
    "step_totals",
]


@dataclass
class EpochBreakdown:
    """One epoch's wall time attributed to phases (all times in ms): the raw :class:`EpochTiming`
    it came from, and what attribution added.

    ``step_ms[phase][i]`` is step ``i``'s time in ``phase``: measured directly, or attributed by
    proportion from a fused step's compute. ``totals_ms`` adds time outside any step, the unprofiled
    stretches and ``other``, so ``sum(totals_ms.values()) == wall_ms``. What the timing already says
    (index, wall time, steps, samples, stretches...) is read from it, never copied; what takes a pass
    over the step table (kinds, waits, samples, coverage checks) is read once and kept.
    """

    timing: EpochTiming
    #: One float64 array per phase, a value per step.
    step_ms: dict[str, np.ndarray]
    totals_ms: dict[str, float]
    #: Shares of compute used for fused steps (call/forward/backward/optimizer), or None (unsplit).
    proportions: dict[str, float] | None
    #: "pooled" (the steady epochs' samples), "epoch" (this epoch's own) or "none".
    proportions_source: str
    notes: list[str] = field(default_factory=list)
    #: Phase time outside any step, attributed (the final next() that ends the epoch, the
    #: iterator's teardown, and the fence at the epoch's end).
    outside_steps_ms: dict[str, float] = field(default_factory=dict)
    #: Consecutive profiled steps as (steps, ms) blocks, for the profiling-cost estimate.
    profiled_blocks: list[tuple[int, float]] = field(default_factory=list)

    @property
    def index(self) -> int:
        """The epoch's index in its profiler (0 first)."""
        return self.timing.index

    @property
    def wall_ms(self) -> float:
        """The epoch's wall time (ms)."""
        return self.timing.wall_ms

    @property
    def complete(self) -> bool:
        """Whether the epoch ran to its end (a stop signal cuts one short)."""
        return self.timing.complete

    @property
    def is_warmup(self) -> bool:
        """The epoch opens a run (see :attr:`EpochTiming.warmup`)."""
        return self.timing.is_warmup

    @cached_property
    def examples(self) -> int:
        """Examples the epoch trained on, unprofiled stretches included (added up once: the figures
        read it several times)."""
        return self.timing.examples

    @cached_property
    def step_kinds(self) -> StepKinds:
        """Each profiled step's kind (``fused``, ``probe``, ``split``), in order: the step table's
        codes, read once (no string a step)."""
        return StepKinds.from_codes(*self.timing.steps.kind_codes())

    @property
    def gc_ms(self) -> float:
        """Python garbage-collection pauses during the epoch (inside whichever phase they hit)."""
        return self.timing.gc_ms

    @property
    def gc_collections(self) -> int:
        """Garbage collections during the epoch."""
        return self.timing.gc_collections

    @property
    def fence_idle_ms(self) -> float:
        """One fence call on the idle device, measured before the epoch (ms)."""
        return self.timing.fence_idle_ms

    @property
    def stretches(self) -> list[StretchTiming]:
        """The unprofiled stretches (the profiling-cost reference), in order."""
        return self.timing.stretches

    @cached_property
    def waits_ms(self) -> dict[str, float]:
        """Device wait inside each directly measured phase, summed over the epoch's steps."""
        return self.timing.steps.wait_totals()

    @cached_property
    def samples(self) -> Sequence[dict[str, list[float]]]:
        """Raw probe samples of this epoch: variant -> [host ms, device wait ms] (as columns,
        :class:`~tfprof_m1.report.step_codec.ProbeSamples`, when every sampled step timed every variant)."""
        return epoch_samples(self.timing)

    @cached_property
    def fence_checks(self) -> list[FenceCheckSample]:
        """The coverage checks run after this epoch's sampled steps."""
        return self.timing.steps.fence_checks()

    @property
    def steps(self) -> int:
        """Steps the profiler timed in the epoch (unprofiled stretches not counted)."""
        return len(self.timing.steps)

    @property
    def sampled_steps(self) -> int:
        """Steps that measured the parts of compute: probe steps, or split steps without probes."""
        return len(self.samples) or self.step_kinds.count(SPLIT)


def step_totals(step_ms: Mapping[str, Sequence[float] | np.ndarray]) -> list[float]:
    """Each step's time over all its phases, from per-phase lists of per-step values."""
    return [sum(values) for values in zip(*step_ms.values())]


def epoch_samples(
    epoch: EpochTiming, sampled: Sequence[StepTiming] | None = None
) -> Sequence[dict[str, list[float]]]:
    """The epoch's probe samples (:func:`probe_samples` of its sampled steps, equal to that list):
    read as columns from its step table when every sampled step timed every probe variant, else
    from ``sampled`` (``epoch.steps.sampled()``, built here if not given)."""
    columns = epoch.steps.sample_columns()
    if columns is not None and is_probe_sample(columns):
        return ProbeSamples(columns, len(next(iter(columns.values()))[0]))
    return probe_samples(epoch.steps.sampled() if sampled is None else sampled)


def probe_samples(steps: Sequence[StepTiming]) -> list[dict[str, list[float]]]:
    """The probe samples (every variant timed) of ``steps``, in order."""
    return [step.samples_ms for step in steps if is_probe_sample(step.samples_ms)]


#: Phases that are never a part of a step's compute: what the split steps' own phases are not.
NOT_COMPUTE = frozenset({INPUT, SYNC, PROFILING, TRACE, UNPROFILED, COMPUTE})


def split_parts(steps: Sequence[StepTiming]) -> list[str]:
    """The parts of compute that split steps measure: phases on split steps (first seen first) that
    no other step records, apart from input, sync and the profiler's own phases.

    A research loop's own names count like the built-in ones (``clip``, ``generator/backward``...);
    a phase that every step records (an ``augment`` outside the step's compute) is not a part.
    """
    elsewhere = {name for step in steps if step.kind != SPLIT for name in step.phases_ms}
    parts: list[str] = []
    for step in steps:
        if step.kind == SPLIT:
            parts += [
                name
                for name in step.phases_ms
                if name not in NOT_COMPUTE and name not in elsewhere and name not in parts
            ]
    return parts


def sample_proportions(steps: Sequence[StepTiming]) -> dict[str, float] | None:
    """Shares of compute from the samples among ``steps``: call/forward/backward/optimizer from
    probe samples; without any, the split steps' parts (whatever they are named) from their medians."""
    samples = probe_samples(steps)
    if samples:
        return proportions(part_medians(samples))
    split = [step for step in steps if step.kind == SPLIT]
    parts = split_parts(steps)
    if not parts:
        return None
    return proportions(
        {name: median(step.phases_ms.get(name, 0.0) for step in split) for name in parts}, parts
    )


def profiled_blocks(epoch: EpochTiming, block_steps: int) -> list[tuple[int, float]]:
    """(steps, ms) of runs of consecutive profiled steps, cut into units of about ``block_steps``.

    A step's span runs from its start (input wait included) to the next step's start, or to the
    start of the unprofiled stretch that follows it. The epoch's first step (it also starts the
    input pipeline) is left out, unless it is a block step (its device work is then waited for in a
    later step's span): then its span starts after its input wait. The last step's span ends where
    a stretch that follows it starts, else where the steps' work was last known done
    (``EpochTiming.steps_end_ms``: its own fence, or the fence closing the epoch's last block); left
    out when neither is known (records made by hand, older runs).
    A unit never splits what one fence closes (a block of unfenced steps, whose closing wait is in
    its last step's span): a unit starts at the first step after a fence whose start is in the next
    ``block_steps`` of the run; where every step is fenced, units of ``block_steps`` steps.

    A unit's steps' spans follow one another without a gap, so its ms is the time from its first
    span's start to its last span's end: read at the units' edges, not added up step by step (the
    work is a pass over the steps' kinds, then the fences' and units' edges).
    """
    started = np.asarray(epoch.steps.started_ms, dtype=float)
    count = len(started)
    if count == 0:
        return []
    names, codes = epoch.steps.kind_codes()
    is_block = codes == names.index(BLOCK) if BLOCK in names else np.zeros(count, dtype=bool)
    first = 0 if is_block[0] else 1
    # a stretch that ends the epoch ends its last profiled step's span (the block closed before it)
    tail = [s.started_ms for s in epoch.stretches if s.before_step == count][:1]
    if not tail and epoch.steps_end_ms is not None and epoch.steps_end_ms > started[-1]:
        tail = [epoch.steps_end_ms]
    stop = count if tail else count - 1  # the steps [first, stop) have spans
    if stop - first < 1:
        return []
    # a stretch after step ``at`` ends its span and its run (it starts before step at + 1)
    cut_ends = {s.before_step - 1: s.started_ms for s in epoch.stretches if first <= s.before_step - 1 < stop}
    runs = np.unique(np.array([first, *(at + 1 for at in cut_ends)], dtype=np.intp))
    runs = runs[runs < stop]  # each run's first step
    if block_steps > 0:
        # a group starts a run, or follows a fence; a unit starts a group whose place in its run
        # is in the next ``block_steps`` (or a run)
        fences = _fences(is_block, epoch.stretches)
        after = fences[(fences >= first) & (fences < stop - 1)] + 1  # steps that follow a fence
        groups = np.union1d(runs, after)
        run_of = np.searchsorted(runs, groups, side="right") - 1
        key = (groups - runs[run_of]) // block_steps
        unit = np.ones(len(groups), dtype=bool)
        unit[1:] = (run_of[1:] != run_of[:-1]) | (key[1:] != key[:-1])
        starts = groups[unit]
    else:
        starts = runs
    lasts = np.append(starts[1:], stop) - 1  # each unit's last step
    span_starts = started[starts]
    if first == 0:
        column = epoch.steps.column(INPUT)
        span_starts[0] += column[0] if column is not None else 0.0  # not the input pipeline's start
    span_ends = started[np.minimum(lasts + 1, count - 1)]  # the next step's start...
    cut = np.isin(lasts, list(cut_ends))
    span_ends[cut] = [cut_ends[last] for last in lasts[cut].tolist()]  # ...a stretch's start...
    if lasts[-1] == count - 1:
        span_ends[-1] = tail[0]  # ...or where the epoch's steps' work was done
    return list(zip((lasts - starts + 1).tolist(), (span_ends - span_starts).tolist()))


def _fences(is_block: np.ndarray, stretches: Sequence[StretchTiming]) -> np.ndarray:
    """The steps of an epoch a fence followed (``is_block``: whether each is a block step, a
    boolean array), in order: a fenced step's own fence, or the one closing a block of unfenced
    steps (before a step that is not a block step, before one of the ``stretches``, at the epoch's
    end, and after every :data:`~tfprof_m1.collection.profiler.MAX_BLOCK_STEPS` steps of a block).

    The last rule is read from the stretches of steps between the other fences (every step of such
    a stretch longer than one is a block step), not step by step."""
    count = len(is_block)
    fenced = ~is_block
    fenced[-1] = True
    fenced[:-1] |= ~is_block[1:]
    before = np.array([s.before_step for s in stretches if 0 < s.before_step <= count], dtype=np.intp)
    fenced[before - 1] = True
    fences = np.flatnonzero(fenced)
    # the profiler closes an open block after MAX_BLOCK_STEPS steps: in each stretch from the step
    # after a fence to the next fence, at its MAX_BLOCK_STEPS-th step, its 2 × MAX_BLOCK_STEPS-th...
    opens = np.append(0, fences[:-1] + 1)
    closes = (fences - opens) // MAX_BLOCK_STEPS  # block fences before the stretch's own
    if not closes.any():
        return fences
    nth = np.arange(int(closes.sum())) - np.repeat(np.cumsum(closes) - closes, closes) + 1
    inside = np.repeat(opens, closes) + nth * MAX_BLOCK_STEPS - 1
    return np.union1d(fences, inside)


#: Shown after the step's own phases, in this order: the device fences and the profiler's own cost.
_TRAILING = (SYNC, PROFILING, UNPROFILED, TRACE)


def _phase_names(epoch: EpochTiming, proportions: dict[str, float] | None) -> list[str]:
    """The epoch's phases in the order first seen (input first; compute replaced by its parts; the
    fences and the profiler's own phases last). Only phases that occurred are listed."""
    seen: list[str] = []
    for name in epoch.steps.phase_names() + list(epoch.outside_steps_ms):
        if name == COMPUTE and proportions is not None:
            seen += [part for part in proportions if part not in seen]
        elif name not in seen:
            seen.append(name)
    if epoch.stretches:
        seen.append(UNPROFILED)
    leading = [INPUT] if INPUT in seen else []
    return (
        leading
        + [name for name in seen if name != INPUT and name not in _TRAILING]
        + [name for name in _TRAILING if name in seen]
    )


def _attribute(phases_ms: Mapping[str, float], proportions: dict[str, float] | None) -> dict[str, float]:
    result = dict(phases_ms)
    if proportions is not None and COMPUTE in result:
        compute = result.pop(COMPUTE)
        for name, share in proportions.items():
            result[name] = result.get(name, 0.0) + compute * share
    return result


def _proportions_of(
    epochs: Sequence[EpochTiming], samples: Mapping[int, Sequence[dict[str, list[float]]]] | None = None
) -> dict[str, float] | None:
    """:func:`sample_proportions` of the epochs' steps, reading only their probe samples when they
    have some (as columns where the step tables hold them so; the split steps' path, without any,
    reads every step). ``samples``: each epoch's :func:`epoch_samples` already read, by ``id`` of
    the epoch."""
    samples = samples or {}
    pooled = joined_samples([samples[id(e)] if id(e) in samples else epoch_samples(e) for e in epochs])
    if pooled:
        return proportions(part_medians(pooled))
    return sample_proportions([step for epoch in epochs for step in epoch.steps])


def _attributed_column(epoch: EpochTiming, name: str, proportions: dict[str, float] | None) -> np.ndarray:
    """Every step's time in ``name`` (0.0 where not recorded), plus its share of the step's compute
    when ``name`` is a part of it: :func:`_attribute` over a column, without a dict per step."""
    own = epoch.steps.column(name)
    compute = epoch.steps.column(COMPUTE)
    if own is None and compute is not None and proportions is not None and name in proportions:
        # a part no step records itself: 0.0 + compute × share on every step with fused compute
        fused = np.asarray(compute, dtype=float)
        part = np.multiply(fused, proportions[name])
        part += 0.0  # as 0.0 + x (a -0.0 product reads 0.0)
        np.copyto(part, 0.0, where=np.isnan(fused))
        return part
    base = np.zeros(len(epoch.steps)) if own is None else np.asarray(own, dtype=float)
    base = np.where(np.isnan(base), 0.0, base)
    if proportions is None or compute is None or name not in proportions:
        return base
    fused = np.asarray(compute, dtype=float)
    return np.where(np.isnan(fused), base, base + fused * proportions[name])


#: Time the phases leave uncovered within this share of the epoch's wall time, either way, is the
#: rounding of adding them up (relative to the epoch: a float's 1e-16 times thousands of steps).
ROUNDING_SHARE = 1e-9


def _uncovered_ms(wall_ms: float, totals_ms: Iterable[float]) -> float:
    """The epoch's wall time the phases do not cover (``other``): 0.0 where what is left is the
    rounding of their sum (:data:`ROUNDING_SHARE`), not time; a phase's total adds thousands of
    per-step values, and where the phases cover the whole epoch the difference may fall either side
    of 0 by a few units in the last place."""
    uncovered = wall_ms - sum(totals_ms)
    return 0.0 if abs(uncovered) <= ROUNDING_SHARE * abs(wall_ms) else uncovered


def attribute_epoch(
    epoch: EpochTiming,
    fallback: dict[str, float] | None = None,
    block_steps: int = 20,
    sampled: list[StepTiming] | None = None,
    samples: Sequence[dict[str, list[float]]] | None = None,
) -> EpochBreakdown:
    """Break one epoch down into phases.

    Args:
        epoch: raw timings from :class:`~tfprof_m1.collection.profiler.PhaseProfiler`.
        fallback: proportions to use instead of this epoch's own (the steady epochs' pooled ones).
        block_steps: block length for the profiling-cost estimate (the unprofiled stretch length).
        sampled: ``epoch.steps.sampled()`` if the caller has built it already (a long run's probe
            steps are built once).
        samples: :func:`epoch_samples` of the epoch if the caller has read them already.
    """
    if samples is None:
        samples = epoch_samples(epoch, sampled)
    shares: dict[str, float] | None
    if fallback is not None:
        shares, source = fallback, "pooled"
    else:
        shares = _proportions_of([epoch], {id(epoch): samples})
        source = "epoch" if shares is not None else "none"
    names = _phase_names(epoch, shares)
    per_step = {name: _attributed_column(epoch, name, shares) for name in names if name != UNPROFILED}
    unassigned = _attribute(epoch.outside_steps_ms, shares)
    totals = {name: pairwise_sum(per_step.get(name, ())) + unassigned.get(name, 0.0) for name in names}
    if epoch.stretches:
        totals[UNPROFILED] = sum(stretch.wall_ms for stretch in epoch.stretches)
    totals[OTHER] = _uncovered_ms(epoch.wall_ms, totals.values())
    notes = []
    if source == "none" and COMPUTE in epoch.steps.phase_names():
        notes.append("no probe or split samples: fused compute time is left unsplit")
    breakdown = EpochBreakdown(
        timing=epoch,
        step_ms=per_step,
        totals_ms=totals,
        proportions=shares,
        proportions_source=source,
        notes=notes,
        outside_steps_ms=unassigned,
        profiled_blocks=profiled_blocks(epoch, block_steps),
    )
    breakdown.__dict__["samples"] = samples  # the cached property
    return breakdown


def attribute_epochs(epochs: Sequence[EpochTiming]) -> list[EpochBreakdown]:
    """Break every epoch down with the proportions pooled over the steady epochs (the first epoch,
    warm-up, is left out of the pool when there are others); an epoch uses its own samples only when
    the steady epochs have none."""
    # each epoch's samples read once: as columns from its step table, or from its probe steps built once
    samples = {id(epoch): epoch_samples(epoch) for epoch in epochs}
    pooled = _proportions_of(steady_epochs(epochs), samples)
    block = max((stretch.steps for epoch in epochs for stretch in epoch.stretches), default=20)
    return [
        attribute_epoch(epoch, fallback=pooled, block_steps=block, samples=samples[id(epoch)])
        for epoch in epochs
    ]
