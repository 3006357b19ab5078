"""Turn raw epoch timings into a phase breakdown that adds up to the epoch's wall time.

Fused steps are the true throughput but time forward, backward and optimizer as one host call
(``compute``). Sampled split steps time the three separately. The proportions of the split samples
(medians, so one slow sample does not tilt them) divide each fused step's compute time. Whatever
the measured phases do not cover is ``other``: it is computed, never hidden.

Pure Python: works on :class:`~tfprof_m1.profiler.EpochTiming` records, imports no TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import median
from typing import Mapping, Sequence

from tfprof_m1.phases import COMPUTE, COMPUTE_PHASES, OTHER, REPORTED_PHASES, SYNC
from tfprof_m1.profiler import EpochTiming, StepTiming

SPLIT = "split"


@dataclass
class EpochBreakdown:
    """One epoch's wall time attributed to phases (all times in ms).

    ``per_step_ms[phase][i]`` is step ``i``'s time in ``phase``: measured directly on split steps,
    attributed by proportion on fused steps. ``totals_ms`` adds time outside any step and ``other``,
    so ``sum(totals_ms.values()) == wall_ms``.
    """

    index: int
    wall_ms: float
    complete: bool
    examples: int
    step_kinds: list[str]
    per_step_ms: dict[str, list[float]]
    totals_ms: dict[str, float]
    #: forward/backward/optimizer shares of compute used for fused steps, or None (left unsplit).
    proportions: dict[str, float] | None
    #: "epoch" (this epoch's split samples), "pooled" (all epochs' samples) or "none".
    proportions_source: str
    #: How much longer the split samples took than as many fused steps would have (their cost).
    split_overhead_ms: float | None = None
    notes: list[str] = field(default_factory=list)
    #: Python garbage-collection pauses during the epoch (inside whichever phase they hit).
    gc_ms: float = 0.0
    gc_collections: int = 0
    #: Phase time outside any step: the final next() that ends the epoch (and the iterator's
    #: teardown), and the fence at the epoch's end.
    outside_steps_ms: dict[str, float] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return len(self.step_kinds)

    @property
    def split_steps(self) -> int:
        return sum(1 for kind in self.step_kinds if kind == SPLIT)


def step_totals(step_ms: Mapping[str, Sequence[float]]) -> list[float]:
    """Each step's time over all its phases, from per-phase lists of per-step values."""
    return [sum(values) for values in zip(*step_ms.values())]


def split_proportions(steps: Sequence[StepTiming]) -> dict[str, float] | None:
    """Median forward/backward/optimizer times of split steps, normalised to sum to 1."""
    samples = [step for step in steps if step.kind == SPLIT]
    if not samples:
        return None
    medians = {name: median(step.phases_ms.get(name, 0.0) for step in samples) for name in COMPUTE_PHASES}
    total = sum(medians.values())
    if total <= 0:
        return None
    return {name: value / total for name, value in medians.items()}


def _step_compute_ms(step: StepTiming) -> float:
    return sum(step.phases_ms.get(name, 0.0) for name in (COMPUTE, *COMPUTE_PHASES, SYNC))


def _split_overhead_ms(steps: Sequence[StepTiming]) -> float | None:
    fused = [_step_compute_ms(step) for step in steps if step.kind != SPLIT]
    split = [_step_compute_ms(step) for step in steps if step.kind == SPLIT]
    if not fused or not split:
        return None
    return sum(split) - len(split) * median(fused)


def _phase_names(epoch: EpochTiming, split_compute: bool) -> list[str]:
    seen = {name for step in epoch.steps for name in step.phases_ms} | set(epoch.unassigned_ms)
    names = [name for name in REPORTED_PHASES if name != OTHER]
    if not split_compute and COMPUTE in seen:
        names.insert(names.index(SYNC), COMPUTE)
    names += sorted(seen - set(names) - {COMPUTE})  # a research loop's own phase names
    return names


def _attribute(phases_ms: dict[str, float], proportions: dict[str, float] | None) -> dict[str, float]:
    result = dict(phases_ms)
    compute = result.get(COMPUTE, 0.0)
    if proportions is not None and COMPUTE in result:
        del result[COMPUTE]
        for name, share in proportions.items():
            result[name] = result.get(name, 0.0) + compute * share
    return result


def attribute_epoch(epoch: EpochTiming, fallback: dict[str, float] | None = None) -> EpochBreakdown:
    """Break one epoch down into phases.

    Args:
        epoch: raw timings from :class:`~tfprof_m1.profiler.PhaseProfiler`.
        fallback: proportions to use when this epoch has no split samples of its own.
    """
    own = split_proportions(epoch.steps)
    proportions, source = (own, "epoch") if own is not None else (fallback, "pooled" if fallback else "none")
    names = _phase_names(epoch, split_compute=proportions is not None)
    attributed = [_attribute(step.phases_ms, proportions) for step in epoch.steps]
    per_step = {name: [phases.get(name, 0.0) for phases in attributed] for name in names}
    unassigned = _attribute(epoch.unassigned_ms, proportions)
    totals = {name: sum(per_step[name]) + unassigned.get(name, 0.0) for name in names}
    totals[OTHER] = epoch.wall_ms - sum(totals.values())
    notes = []
    if source == "none" and any(COMPUTE in step.phases_ms for step in epoch.steps):
        notes.append("no split samples: fused compute time is left unsplit")
    return EpochBreakdown(
        index=epoch.index,
        wall_ms=epoch.wall_ms,
        complete=epoch.complete,
        examples=epoch.examples,
        step_kinds=[step.kind for step in epoch.steps],
        per_step_ms=per_step,
        totals_ms=totals,
        proportions=proportions,
        proportions_source=source,
        split_overhead_ms=_split_overhead_ms(epoch.steps),
        notes=notes,
        gc_ms=epoch.gc_ms,
        gc_collections=epoch.gc_collections,
        outside_steps_ms=unassigned,
    )


def attribute_epochs(epochs: Sequence[EpochTiming]) -> list[EpochBreakdown]:
    """Break every epoch down; epochs without split samples borrow the pooled proportions."""
    pooled = split_proportions([step for epoch in epochs for step in epoch.steps])
    return [attribute_epoch(epoch, fallback=pooled) for epoch in epochs]
