"""Sampling by budget: probe steps cost at most a share of the epoch's time, pooled across epochs.

The rule is checked on measured figures of the real loop and profiler (a fake device on a fake
clock): what the probe steps cost beyond fused steps, over the steady epochs' time. No absolute time.
"""

from __future__ import annotations

from statistics import median

import pytest

from tests.fake_device import FakeClock, FakeDevice, FakeFence, FakeTrainSteps, StepModel, Work, batches
from tests.report_factory import make_report
from tfprof_m1.analysis.assemble import build_report
from tfprof_m1.analysis.estimate import FEW_SAMPLES, estimate_parts
from tfprof_m1.collection.loop import (
    ASSUMED_PROBE_COST,
    DEFAULT_BUDGET,
    DEFAULT_SAMPLING,
    Sampling,
    probe_cost,
    run_profiled_loop,
)
from tfprof_m1.collection.profiler import PhaseProfiler

#: Host-only calls (a synchronous device), no fence cost: what profiling costs is the probes alone.
WORK = StepModel(Work(0.5, 0.0), Work(2.5, 0.0), Work(5.0, 0.0), Work(6.0, 0.0))


def _run(steps: int, epochs: int, sampling: Sampling, fence_ms: float = 0.0) -> PhaseProfiler:
    clock = FakeClock()
    device = FakeDevice(clock)
    profiler = PhaseProfiler(clock=clock, fence=FakeFence(device, fence_ms), annotate=False)
    train_steps = FakeTrainSteps(device, WORK)
    run_profiled_loop(train_steps, batches(clock, steps, input_ms=0.2), epochs, steps, profiler, sampling)
    return profiler


def _probe_share(profiler: PhaseProfiler) -> float:
    """The probe steps' time beyond fused steps, over the steady epochs' time (measured)."""
    extra = wall = 0.0
    for epoch in profiler.epochs[1:]:
        fused = median(s.wall_ms for s in epoch.steps if s.kind == "fused")
        extra += sum(s.wall_ms - fused for s in epoch.steps if s.kind == "probe")
        wall += epoch.wall_ms
    return extra / wall


def test_the_budget_counts_probes_and_carries_the_rest():
    budget = Sampling(budget=0.03)
    assert budget.probe_count(60) == (1, pytest.approx(0.03 * 60 / ASSUMED_PROBE_COST - 1))
    assert budget.probe_count(1563, probe_cost=1.0) == (46, pytest.approx(0.89))
    carried, total = 0.0, 0
    for _ in range(10):  # 1.8 probes an epoch's worth: the fraction carries on
        count, carried = budget.probe_count(60, probe_cost=1.0, carried=carried)
        total += count
    assert 17 <= total <= 18  # floating point may leave the last just short
    assert budget.probe_count(20) == (1, 0.0)  # one at least, even over the budget
    assert budget.plan(60, probes=2).count("probe") == 2 and budget.plan(60, probes=0).count("probe") == 0
    assert DEFAULT_SAMPLING.budget == DEFAULT_BUDGET == 0.03
    with pytest.raises(ValueError):
        Sampling(budget=1.5)


@pytest.mark.parametrize("steps", [50, 60, 400])
def test_default_sampling_keeps_the_probes_within_the_budget(steps):
    profiler = _run(steps, epochs=6, sampling=DEFAULT_SAMPLING)
    probes = sum(1 for epoch in profiler.epochs[1:] for s in epoch.steps if s.kind == "probe")
    assert probes >= 1  # pooled over the steady epochs
    assert _probe_share(profiler) <= DEFAULT_BUDGET
    measured = probe_cost(profiler.epochs[-1])
    assert measured is not None and 0.5 < measured < 2.5  # the probe's three extra calls


def test_the_fixed_rule_it_replaces_spent_far_more_at_sixty_steps():
    old = _run(60, epochs=4, sampling=Sampling(every=50, min_samples=10))
    assert _probe_share(old) > 3 * DEFAULT_BUDGET


def test_a_sixty_step_run_reports_its_cost_within_the_goal_with_its_interval():
    profiler = _run(60, epochs=6, sampling=DEFAULT_SAMPLING)
    report = build_report(profiler, environment=make_report("cpu").environment, batch_size=32)
    cost = report.runs[0].steady.profiling_cost
    assert cost is not None and cost.ratio.low <= cost.ratio.point <= cost.ratio.high
    assert cost.ratio.point <= 1 + DEFAULT_BUDGET


def test_few_samples_widen_the_parts_intervals_and_one_says_nothing():
    def sample(k):
        return {
            "empty_call": [0.5, 0.0],
            "forward_only": [2.5 + 0.1 * k, 0.0],
            "forward_backward": [5.0 + 0.2 * k, 0.0],
            "full_step": [6.0 + 0.1 * k, 0.0],
        }

    one = estimate_parts([sample(0)])
    assert all((interval.low, interval.high) == (0.0, 1.0) for interval in one.shares.values())
    few, many = (
        estimate_parts([sample(k % 3) for k in range(4)]),
        estimate_parts([sample(k % 3) for k in range(12)]),
    )
    assert many.samples >= FEW_SAMPLES > few.samples
    for part in few.shares:
        assert few.shares[part].high - few.shares[part].low >= many.shares[part].high - many.shares[part].low
