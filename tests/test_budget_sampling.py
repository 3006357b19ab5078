"""Sampling by budget: what the sampling adds (probe steps, their fenced steps, the cuts of
stretches and blocks) costs at most a share of the epoch's time, pooled across epochs.

The rule is checked on measured figures of the real loop and profiler (a fake device on a fake
clock): the steady epochs against a plain loop's on the same fake device. No absolute time.
"""

from __future__ import annotations

from statistics import median

import pytest

from tests.fake_device import (
    FakeClock,
    FakeDevice,
    FakeFence,
    FakeTrainSteps,
    StepModel,
    Work,
    batches,
    plain_epoch_ms,
)
from tests.report_factory import make_report
from tfprof_m1.analysis.assemble import build_report
from tfprof_m1.analysis.estimate import FEW_SAMPLES, estimate_parts
from tfprof_m1.collection.loop import (
    COST_GOAL,
    DEFAULT_BUDGET,
    DEFAULT_SAMPLING,
    TIMING_ALLOWANCE,
    PlanCosts,
    ProbePlan,
    Sampling,
    cut_cost,
    probe_cost,
    run_profiled_loop,
)
from tfprof_m1.collection.profiler import PhaseProfiler

#: Host-only calls (a synchronous device), no fence cost: what profiling costs is the probes alone.
WORK = StepModel(Work(0.5, 0.0), Work(2.5, 0.0), Work(5.0, 0.0), Work(6.0, 0.0))


class _Worker(FakeTrainSteps):
    """Fake steps that count their all-reduces (``all_sum``): one process, so the sums are its own."""

    def __init__(self, device: FakeDevice, model: StepModel) -> None:
        super().__init__(device, model)
        self.all_sums: list[list[float]] = []

    def all_sum(self, values):
        self.all_sums.append(list(values))
        return super().all_sum(values)


def _run(
    steps: int, epochs: int, sampling: Sampling, fence_ms: float = 0.0, work: StepModel = WORK
) -> PhaseProfiler:
    return _run_with(steps, epochs, sampling, fence_ms, work)[0]


def _run_with(
    steps: int, epochs: int, sampling: Sampling, fence_ms: float = 0.0, work: StepModel = WORK
) -> tuple[PhaseProfiler, _Worker, FakeFence]:
    clock = FakeClock()
    device = FakeDevice(clock)
    fence = FakeFence(device, fence_ms)
    profiler = PhaseProfiler(clock=clock, fence=fence, annotate=False)
    train_steps = _Worker(device, work)
    run_profiled_loop(train_steps, batches(clock, steps, input_ms=0.2), epochs, steps, profiler, sampling)
    return profiler, train_steps, fence


def _probes(profiler: PhaseProfiler) -> list[int]:
    return [sum(1 for kind in epoch.steps.kinds() if kind == "probe") for epoch in profiler.epochs]


def _probe_share(profiler: PhaseProfiler) -> float:
    """The probe steps' time beyond fused steps, over the steady epochs' time (measured)."""
    extra = wall = 0.0
    for epoch in profiler.epochs[1:]:
        fused = median(s.wall_ms for s in epoch.steps if s.kind in ("fused", "block"))
        extra += sum(s.wall_ms - fused for s in epoch.steps if s.kind == "probe")
        wall += epoch.wall_ms
    return extra / wall


#: Three shapes of step on the fake device (host side with input and call, device): a fence costs
#: the overlap min(host, device), so the balanced one is where cuts cost most.
SHAPES = {"host-bound": (8.0, 2.0), "device-bound": (1.0, 9.0), "balanced": (4.0, 4.0)}


def _shape(host: float, device: float) -> StepModel:
    return StepModel(
        Work(0.5, 0.0),
        Work(0.5 + host * 0.25, device * 0.25),
        Work(0.5 + host * 0.75, device * 0.75),
        Work(0.5 + host, device),
    )


def test_the_budget_pays_stretches_and_blocks_first_then_probe_steps_and_carries_the_rest():
    budget = Sampling(budget=0.03)
    # 60 steps, a run's first epochs: one stretch of 20, alone (two cuts: the block's before it and
    # its own); the epoch's last block is closed by the epoch's own fence (no cut); a probe step
    # costs its calls and two cuts (its own and its fenced step's) and saves the stretch one (it
    # follows the probe step)
    assert budget.budget_spent(60, 0, PlanCosts()) == 2.0
    assert budget.budget_spent(60, 2, PlanCosts()) == pytest.approx(2 * 1.5 + 2 * 2 + 1)
    assert budget.budget_spent(60, 2, PlanCosts(), stretches=0) == pytest.approx(2 * 1.5 + 2 * 2)
    assert budget.probe_count(60) == (1, pytest.approx(0.03 * 60 - 4.5))  # forced: a debt carried
    # 1,563 steps: 7 stretches of 20; 21 probe steps at 1.0 and cuts at 0.5 cost 21 + 49 * 0.5
    assert budget.probe_count(1563, PlanCosts(1.0, 0.5)) == (21, pytest.approx(0.03 * 1563 - 45.5))
    carried, total, spent = 0.0, 0, 0.0
    for _ in range(10):  # the fractions carry on, and what is spent never passes what was earned
        count, carried = budget.probe_count(60, PlanCosts(0.5, 0.2), carried=carried, at_least=0)
        total, spent = total + count, spent + budget.budget_spent(60, count, PlanCosts(0.5, 0.2))
    assert total >= 10 and spent <= 10 * 0.03 * 60 + 1e-9 and spent + 0.9 > 10 * 0.03 * 60
    assert budget.plan(60, probes=2).count("probe") == 2 and budget.plan(60, probes=0).count("probe") == 0
    # the default leaves the per-step timing its share of the 3 % goal: the budget is what is left
    assert DEFAULT_SAMPLING.budget == DEFAULT_BUDGET == pytest.approx(COST_GOAL - TIMING_ALLOWANCE) == 0.02
    with pytest.raises(ValueError):
        Sampling(budget=1.5)


@pytest.mark.parametrize(("steps", "shape"), [(steps, shape) for steps in (50, 60, 400) for shape in SHAPES])
def test_default_sampling_costs_the_run_its_budget_against_a_plain_loop(steps, shape):
    """The whole cost, end to end: the steady epochs of ten against a plain loop's (the same fake
    device, data and steps, one fence an epoch), within the budget, on every shape of step from 50
    steps an epoch (on the balanced one a cut costs 0.87 of a step: short epochs pool their
    stretches, else a stretch's two cuts alone took 2.9 % of 60 steps)."""
    host, device = SHAPES[shape]
    epochs = 10
    clock = FakeClock()
    fake = FakeDevice(clock)
    profiler = PhaseProfiler(clock=clock, fence=FakeFence(fake, 0.05), annotate=False)
    data = batches(clock, steps * epochs, input_ms=0.2)
    run_profiled_loop(
        FakeTrainSteps(fake, _shape(host, device)), data, epochs, steps, profiler, DEFAULT_SAMPLING
    )
    probes = sum(1 for epoch in profiler.epochs[1:] for s in epoch.steps if s.kind == "probe")
    assert probes >= 1  # pooled over the steady epochs
    steady = sum(epoch.wall_ms for epoch in profiler.epochs[1:]) / (epochs - 1)
    plain = plain_epoch_ms(_shape(host, device), steps, epochs, input_ms=0.2, fence_ms=0.05)
    assert 1.0 < steady / plain <= 1 + DEFAULT_BUDGET
    probe_costs = [probe_cost(epoch) for epoch in profiler.epochs[1:]]
    assert all(cost > 0 for cost in probe_costs if cost is not None) and any(probe_costs)
    with_stretches = [epoch for epoch in profiler.epochs[1:] if epoch.stretches]
    assert all(cut_cost(epoch) > 0 for epoch in with_stretches)
    # 10 % of the steady epochs' steps run unprofiled, in whole stretches: short epochs pool them
    unprofiled = sum(s.steps for epoch in profiler.epochs[1:] for s in epoch.stretches)
    length = DEFAULT_SAMPLING.stretch_length(steps)
    assert abs(unprofiled - 0.1 * steps * (epochs - 1)) <= length
    assert (len(with_stretches) == epochs - 1) == (steps * 0.1 >= length)


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


def test_an_epoch_whose_credit_pays_for_no_probe_step_runs_none_and_carries_it():
    budget, costs = Sampling(budget=0.03), PlanCosts(0.5, 0.1)
    fixed, one = budget.budget_spent(20, 0, costs), budget.budget_spent(20, 1, costs)  # 0.3 and 0.9
    assert budget.probe_count(20, costs, at_least=0) == (0, pytest.approx(0.6 - fixed))
    assert budget.probe_count(20, costs, carried=0.5, at_least=0) == (1, pytest.approx(1.1 - one))
    assert budget.probe_count(20, costs, at_least=1) == (1, pytest.approx(0.6 - one))  # forced: a debt
    plan = ProbePlan(budget, costs=costs)
    kinds = [plan.next_epoch(20) for _ in range(12)]
    counts = [epoch.count("probe") for epoch in kinds]
    assert counts[:2] == [1, 1]  # the warm-up traces the probe calls; the first steady epoch has parts
    # pooled: the warm-up's forced probe is forgiven, the first steady epoch's paid back; what the
    # steady epochs spent (their stretches pooled too) never passes what they earned, and falls
    # short of it by less than one more probe step
    stretches = [epoch.count("unprofiled") // budget.stretch_length(20) for epoch in kinds]
    assert stretches[:2] == [1, 1] and 0 in stretches[2:] and 1 in stretches[2:]
    spent = sum(budget.budget_spent(20, p, costs, s) for p, s in zip(counts[1:], stretches[1:]))
    earned = 11 * 0.03 * 20
    assert 0 in counts[2:] and earned - (one - fixed) < spent <= earned + 1e-9


@pytest.mark.parametrize("steps", [20, 30])
def test_short_epochs_pool_their_probes_across_epochs_on_the_real_loop(steps):
    profiler = _run(steps, epochs=10, sampling=DEFAULT_SAMPLING)
    counts = _probes(profiler)
    assert counts[:2] == [1, 1] and 0 in counts[2:]  # some epochs run none
    assert sum(counts[1:]) >= 2  # pooled over the steady epochs, the parts have samples
    # Every count follows from the credit: the costs the steady epochs measured, carried on.
    plan, expected = ProbePlan(DEFAULT_SAMPLING), []
    for epoch in profiler.epochs:  # planned before the epoch runs; its cost agreed after (not warm-up's)
        expected.append(plan.next_epoch(steps).count("probe"))
        if not epoch.is_warmup:
            plan.agree(plan.share(probe_cost(epoch), cut_cost(epoch)))
    assert counts == expected


def test_the_probe_cost_is_agreed_once_per_steady_epoch_and_never_in_the_warm_up():
    _, worker, _ = _run_with(60, epochs=4, sampling=DEFAULT_SAMPLING)
    assert len(worker.all_sums) == 3  # the same collectives on every worker, at the same points
    assert all(len(values) == 4 for values in worker.all_sums)  # the probe's cost and the cut's
    _, fixed, _ = _run_with(60, epochs=4, sampling=Sampling(every=10, min_samples=2))
    assert fixed.all_sums == []  # the fixed rule's plan needs no measurement: nothing to agree on


def test_workers_that_measured_different_probe_costs_plan_the_same_probe_steps():
    """Under MultiWorkerMirroredStrategy a probe step runs other collectives than a fused step: two
    workers planning different probe steps hang. Each measures its own cost; the plan comes from
    their sum over the workers (an all-reduce), the same everywhere."""
    measured = {"a": [0.41, 0.52, 0.77, 0.33], "b": [2.9, 3.3, 1.7, 2.2]}  # noisy hosts differ this much
    cuts = {"a": [0.1, 0.3, 0.2, 0.1], "b": [0.6, 0.4, 0.9, 0.5]}

    def plans(agreeing: bool) -> dict[str, list[list[str]]]:
        planners = {name: ProbePlan(DEFAULT_SAMPLING) for name in measured}
        result: dict[str, list[list[str]]] = {name: [] for name in measured}
        for epoch in range(len(measured["a"]) + 1):
            for name, planner in planners.items():
                result[name].append(planner.next_epoch(400))
            if epoch == 0:
                continue  # the warm-up's probes trace: not measured
            shares = {
                name: planner.share(measured[name][epoch - 1], cuts[name][epoch - 1])
                for name, planner in planners.items()
            }
            summed = [sum(values) for values in zip(*shares.values())]
            for name, planner in planners.items():
                planner.agree(summed if agreeing else shares[name])
        return result

    local = plans(agreeing=False)
    assert local["a"][2:] != local["b"][2:]  # the bug: each worker's own cost plans its own probe steps
    agreed = plans(agreeing=True)
    assert agreed["a"] == agreed["b"]
    replay = ProbePlan(DEFAULT_SAMPLING)
    replay.next_epoch(400)
    replay.next_epoch(400)
    replay.agree([sum(values) for values in zip(ProbePlan.share(0.41, 0.1), ProbePlan.share(2.9, 0.6))])
    assert replay.costs == PlanCosts(pytest.approx((0.41 + 2.9) / 2), pytest.approx((0.1 + 0.6) / 2))
    assert agreed["a"][2] == replay.next_epoch(400)  # the plan of the agreed means, on every worker


def test_agreed_costs_are_whole_thousandths_summed_exactly_in_float32():
    import numpy as np

    costs = (1.2345678, 0.98765, 3.14159, 1e9, None, float("nan"))
    shares = [ProbePlan.share(cost, cut) for cost, cut in zip(costs, costs[::-1])]
    assert shares[3] == [100_000.0, 1.0, 3142.0, 1.0] and shares[4][:2] == shares[5][:2] == [0.0, 0.0]
    orders = [shares, shares[::-1], shares[2:] + shares[:2]]
    totals = {tuple(np.sum(np.array(order, dtype=np.float32), axis=0, dtype=np.float32)) for order in orders}
    assert len(totals) == 1  # any reduction order gives the same sums: every worker the same cost
    plan = ProbePlan(DEFAULT_SAMPLING)
    assert plan.agree([0.0, 0.0, 0.0, 0.0]) == PlanCosts()  # nobody measured: the costs so far
    assert plan.agree([2469.0, 2.0, 0.0, 0.0]) == PlanCosts(pytest.approx(1.2345), PlanCosts().cut)


def test_a_fenced_step_costs_one_fence_a_block_step_none_and_a_bounded_number_of_clock_reads():
    """What every fused step pays, counted on the real loop and profiler: the fence is the cost that
    matters (it takes the overlap away), so only ``fenced_share`` of the fused steps are fenced one
    by one and the others run in blocks of one fence; the clock reads are cheap but bounded."""
    reads = {"n": 0}
    clock = FakeClock()

    def counting_clock() -> float:
        reads["n"] += 1
        return clock()

    device = FakeDevice(clock)
    fence = FakeFence(device, 0.0)
    profiler = PhaseProfiler(clock=counting_clock, fence=fence, annotate=False)

    def epoch_calls(steps: int, fenced_share: float) -> tuple[int, int]:
        sampling = Sampling(every=10**6, min_samples=0, reference_share=0.0, fenced_share=fenced_share)
        before_fences, before_reads = fence.calls, reads["n"]
        run_profiled_loop(FakeTrainSteps(device, WORK), batches(clock, steps), 1, steps, profiler, sampling)
        return fence.calls - before_fences, reads["n"] - before_reads

    (fences_10, reads_10), (fences_50, reads_50) = epoch_calls(10, 1.0), epoch_calls(50, 1.0)
    assert (fences_50 - fences_10) / 40 == 1  # every fused step fenced: one fence each, nothing more
    assert (reads_50 - reads_10) / 40 <= 10  # clock reads per fused step
    (blocks_10, _), (blocks_50, _), (blocks_250, _) = (epoch_calls(n, 0.02) for n in (10, 50, 250))
    # 2 % fenced, each cutting the block it falls in: 1 and 5 more fenced steps, 1 and 5 more blocks
    assert (blocks_50 - blocks_10, blocks_250 - blocks_10) == (2, 10)


def test_the_default_fences_the_step_before_each_probe_step_and_starts_stretches_after_probe_steps():
    """The fences a loop that never stops has not are shared: the step before a probe step is fenced
    (the probe step's own first fence would cut its block anyway; a stretch's closing fence does as
    well) and a stretch follows a probe step (whose fences emptied the device); stretches with no
    probe step before them take their tiles alone. The last block is closed by the fence the epoch
    ends with."""
    kinds = DEFAULT_SAMPLING.plan(400, probes=3)
    probes = [i for i, kind in enumerate(kinds) if kind == "probe"]
    assert len(probes) == 3 and all(kinds[i - 1] in ("fused", "unprofiled") for i in probes)
    assert kinds.count("fused") == sum(kinds[i - 1] == "fused" for i in probes) and kinds[-1] == "block"
    stretches = DEFAULT_SAMPLING.unprofiled_steps(400, probes=3)
    assert [len(s) for s in stretches] == [20, 20] and all(s.start - 1 in probes for s in stretches)
    # centred (phase 0.5): tiles 10 and 0 of the 20 tiles of steps 2-399
    assert [s.start for s in stretches] == [2, 2 + round(10 * 378 / 19)]
    no_probe = DEFAULT_SAMPLING.unprofiled_steps(400, probes=0)  # stretches with no probe step: alone
    assert [(s.start, len(s)) for s in no_probe] == [(s.start, 20) for s in stretches]
    assert all(kind != "probe" for kind in DEFAULT_SAMPLING.plan(400, probes=0))
    short = DEFAULT_SAMPLING.unprofiled_steps(60, probes=1)  # a third of a run's first epochs
    assert [(s.start, len(s)) for s in short] == [(21, 20)]  # the middle of the tiles 2, 21 and 40
    assert DEFAULT_SAMPLING.unprofiled_steps(60, probes=1, stretches=0) == []  # pooled: none here
    assert DEFAULT_SAMPLING.plan(9, probes=1)[-1] == "block"  # no stretch under 10 steps


def test_stretches_tile_the_epoch_never_overlap_and_never_touch_its_first_two_steps():
    from tfprof_m1.collection.loop import Sampling as Rule

    for steps in (10, 11, 20, 37, 60, 61, 100, 399, 400, 1563):
        for count in range(1, max(1, steps // 2 // 20) + 1):
            for phase in (0.0, 0.13, 0.5, 0.77, 0.999):
                length = min(20, steps // 3)
                starts = Rule.stretch_starts(steps, count, length, phase)
                assert len(starts) == count, (steps, count, phase)
                assert starts[0] >= 2 and starts[-1] + length <= steps
                assert all(b - a >= length for a, b in zip(starts, starts[1:])), starts
                plan = DEFAULT_SAMPLING.plan(steps, probes=count, stretches=count, phase=phase)
                runs = DEFAULT_SAMPLING.unprofiled_steps(steps, probes=count, stretches=count, phase=phase)
                assert [r.start for r in runs] == starts and len(plan) == steps
                assert all(plan[r.start - 1] == "probe" for r in runs)


def test_a_share_of_fused_steps_is_fenced_evenly_pooled_over_short_epochs_when_asked():
    sampling = Sampling(budget=0.03, fenced_share=0.02)
    assert sampling.fenced_count(53) == (1, pytest.approx(0.06))
    assert Sampling(budget=0.03).fenced_count(53) == (0, 0.0)  # the default fences beside probes
    plan, counts = ProbePlan(sampling), []
    for _ in range(6):  # 20-step epochs: a stretch of 6 in the first two, 13 then 20 fused steps
        kinds = plan.next_epoch(20)
        assert "block" in kinds and kinds[-1] == "block"
        counts.append(kinds.count("fused"))
    assert counts == [0, 0, 0, 1, 0, 1]  # credit 0.26, 0.52, 0.92, 1.32, 0.72, 1.12
    kinds = Sampling(every=10**6, min_samples=0, reference_share=0.0, fenced_share=0.02).plan(1000, fenced=4)
    assert [i for i, kind in enumerate(kinds) if kind == "fused"] == [125, 375, 625, 875]
    assert Sampling(fenced_share=1.0).plan(60).count("block") == 0  # every fused step fenced
    with pytest.raises(ValueError, match="fenced share"):
        Sampling(fenced_share=1.5)


@pytest.mark.parametrize(("min_samples", "warned"), [(1, True), (4, False)])
def test_fewer_probe_steps_than_probe_calls_are_named_in_the_report(min_samples, warned, tmp_path):
    """A probe step's calls start one later each step, so a full rotation shares each call's position
    among the parts; the steady epochs pooling fewer probe steps than calls get a warning, and
    ``compare`` says so of each side it reads such a run on."""
    import dataclasses

    from tfprof_m1.analysis.compare import compare

    profiler = _run(60, epochs=2, sampling=Sampling(every=1000, min_samples=min_samples))
    report = build_report(profiler, environment=make_report("cpu").environment, batch_size=32)
    run = report.runs[0]
    paths = [
        report.save(tmp_path / "a.json"),
        dataclasses.replace(report, created="later").save(tmp_path / "b.json"),
    ]
    notes = [
        note for comparison in compare(paths) for figures in comparison.figures for note in figures.notes
    ]
    assert any("fewer than one rotation of 4 probe calls" in note for note in notes) == warned
    assert run.steady.samples == min_samples
    lines = [line for line in run.warnings if "fewer than one rotation" in line]
    assert bool(lines) == warned
    if warned:
        assert lines[0].startswith(
            "the parts of compute rest on 1 probe step, fewer than one rotation of its 4"
        )


def test_every_worker_stops_after_the_epoch_whose_loss_any_worker_saw_non_finite():
    """With ``stop_on_non_finite`` each multi-worker worker reads the loss of its own examples; the
    stop is agreed in one all-reduce of a flag, so a worker whose own loss stayed finite stops with
    the one whose loss did not (alone, it would wait in its next collective for ever)."""

    class FiniteHere(_Worker):
        peer_flags = [0.0, 1.0, 0.0, 0.0]  # another worker's loss went NaN in epoch 2

        def read_metrics(self):
            return 1.0, None  # this worker's own loss: finite every epoch

        def all_sum(self, values):
            epoch = len(self.all_sums)
            super().all_sum(values)
            return [values[0] + self.peer_flags[epoch]]

    clock = FakeClock()
    device = FakeDevice(clock)
    profiler = PhaseProfiler(clock=clock, fence=FakeFence(device, 0.0), annotate=False)
    worker = FiniteHere(device, WORK)
    fixed = Sampling(every=10, min_samples=1)  # no probe plan to agree: only the stop's all-reduce
    results = run_profiled_loop(
        worker, batches(clock, 80, input_ms=0.2), 4, 20, profiler, fixed, stop_on_non_finite=True
    )
    assert len(results) == 2 and worker.all_sums == [[0.0], [0.0]]  # one agreement an epoch, stopped after 2
    quiet = FiniteHere(device, WORK)
    run_profiled_loop(
        quiet,
        batches(clock, 80, input_ms=0.2),
        4,
        20,
        PhaseProfiler(clock=clock, fence=FakeFence(device, 0.0), annotate=False),
        fixed,
    )
    assert quiet.all_sums == []  # without stop_on_non_finite, no collective is added


def test_the_report_header_says_the_steps_an_epoch_the_runs_ran():
    """A research loop's report has no --steps: its header says the steps its runs ran an epoch,
    not "all" (a trial user passed steps_per_epoch=40 and read "steps/epoch all")."""
    from tfprof_m1.views.render import render_text

    report = build_report(
        _run(60, epochs=2, sampling=DEFAULT_SAMPLING), environment=make_report("cpu").environment
    )
    assert report.config.steps is None and "steps/epoch 60," in render_text(report)


def test_the_next_epoch_is_planned_at_the_median_of_the_last_three_measured_costs():
    """One noisy epoch (a few probe steps on a loaded host) does not swing the next one's plan; what
    each epoch spent is still settled at its own measured costs."""
    plan = ProbePlan(DEFAULT_SAMPLING)
    planned = []
    for probe, cut in ((1.0, 0.2), (5.0, None), (1.2, 0.4), (1.1, 0.3)):
        planned.append(plan.agree(ProbePlan.share(probe, cut)))
    assert [costs.probe for costs in planned] == pytest.approx([1.0, 3.0, 1.2, 1.2])
    assert [costs.cut for costs in planned] == pytest.approx([0.2, 0.2, 0.3, 0.3])  # none measured: kept
    settled = ProbePlan(DEFAULT_SAMPLING)
    settled.next_epoch(400)
    settled.next_epoch(400)
    before = settled.carried
    steps, probes, carried_in, stretches = settled.last
    settled.agree(ProbePlan.share(5.0, 0.5))
    spent = DEFAULT_SAMPLING.budget_spent(steps, probes, PlanCosts(5.0, 0.5), stretches)
    assert settled.carried == pytest.approx(carried_in + DEFAULT_BUDGET * steps - spent)
    assert before != settled.carried


def test_the_layout_moves_from_epoch_to_epoch_so_pooled_stretches_cover_the_whole_epoch():
    """A step's time depends on its place in the epoch (an input pipeline starting, reaching its
    end), so a reference always taken in the middle misstates the profiling cost. Each epoch's probe
    steps and stretches are shifted by the golden ratio's fraction of the epoch from the last one's:
    over a run of 60-step epochs the stretches' steps fall in every sixth of the epoch, a sixth of
    them in each (within a few steps), every stretch still right after a probe step (or spread
    evenly where the epoch has none) and never at step 0; the probe steps move alike."""
    from tfprof_m1.collection.loop import LAYOUT_STEP, layout_phase

    assert layout_phase(0) == 0.5 and layout_phase(1) == pytest.approx(0.5 + LAYOUT_STEP - 1)
    assert sorted(round(layout_phase(e) * 10) for e in range(10)) != [5] * 10
    plan, covered, probes = ProbePlan(DEFAULT_SAMPLING), [0] * 6, [0] * 6
    for _ in range(90):
        kinds = plan.next_epoch(60)
        assert kinds[0] != "unprofiled" and len(kinds) == 60
        for index, kind in enumerate(kinds):
            if kind == "unprofiled":
                covered[index // 10] += 1
                if index == 0 or kinds[index - 1] != "unprofiled":  # a stretch starts
                    assert kinds[index - 1] in ("probe", "block", "fused")
            elif kind == "probe":
                probes[index // 10] += 1
    total = sum(covered)
    assert total >= 90 * 60 * 0.1 * 0.9  # 10 % of the steps, pooled
    assert all(abs(steps - total / 6) <= 0.25 * total / 6 for steps in covered), covered
    assert all(count > 0 for count in probes), probes
    # at a phase near 0 or 1 the probe step and its stretch reach the epoch's first and last steps
    early = DEFAULT_SAMPLING.plan(60, probes=1, stretches=1, phase=0.0)
    assert early.index("probe") == 1 and early[2:22] == ["unprofiled"] * 20
    late = DEFAULT_SAMPLING.plan(60, probes=1, stretches=1, phase=0.99)
    assert late.index("probe") == 39 and late[40:] == ["unprofiled"] * 20
