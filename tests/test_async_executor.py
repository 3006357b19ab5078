"""The real loop on real TensorFlow under the asynchronous executor (GPU-shaped asynchrony on CPU).

cifar10 runs twice through the CLI, once with the normal executor and once with
``--async-executor``; the forward/backward/optimizer shares must agree (their 95 % intervals
overlap), ``sync`` must not swallow the step, and the epoch must still add up. The research-code
paths (a profiled ``fit``, a loop of its own with nested phases that fence after themselves) run
under both executors as well (tests/timing_paths.py). Ratios within one run only.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli, script_figures

pytestmark = [pytest.mark.tf, pytest.mark.slow]

ARGS = (
    "cifar10",
    "--epochs",
    "3",
    "--steps",
    "56",
    "--sample-every",
    "2",
    "--no-fit",
    "--no-trace",
    "--data",
    "synthetic",
    "--no-peak",
    "--quiet",
    "--device",
    "cpu",  # the rehearsal is of a CPU; on a GPU machine the default device is asynchronous anyway
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    reports = {}
    for mode, extra in (("sync", ()), ("async", ("--async-executor",))):
        path = tmp_path_factory.mktemp(mode) / "report.json"
        result = run_cli(*ARGS, *extra, "--json", str(path))
        assert result.returncode == 0, result.stderr
        reports[mode] = json.loads(path.read_text())
    return reports


def _steady(report):
    return report["runs"][0]["steady"]


def test_the_report_records_the_executor(runs):
    assert runs["sync"]["environment"]["executor_async"] is False
    assert runs["async"]["environment"]["executor_async"] is True
    assert runs["async"]["config"]["async_executor"] is True
    for report in runs.values():  # the fence's own cost, per run, from the profiler's idle calls
        fence = report["runs"][0]["fence"]
        assert fence["calls"] == 9 * 3 and 0 < fence["median_ms"] < _steady(report)["step_median_ms"]
    assert _steady(runs["sync"])["execution"]["mode"] == "synchronous"
    execution = _steady(runs["async"])["execution"]
    assert execution["mode"] == "asynchronous" and "rehearsal" in execution["note"]


def test_shares_agree_between_executors_and_sync_does_not_swallow_the_step(runs):
    # The two runs agree when their 95 % intervals overlap (within 2 points): a fixed tolerance failed
    # on a noisy host when one run's optimizer median sat at the edge of its interval.
    intervals = {
        mode: {
            p["part"]: (p["math_share"]["low"], p["math_share"]["high"])
            for p in _steady(report)["parts"]
            if p["math_share"] is not None
        }
        for mode, report in runs.items()
    }
    for part in ("forward", "backward", "optimizer"):
        (sync_low, sync_high), (async_low, async_high) = intervals["sync"][part], intervals["async"][part]
        gap = max(sync_low, async_low) - min(sync_high, async_high)  # > 0: the intervals do not overlap
        assert gap < 0.02, (part, intervals)
    for report in runs.values():
        phases = {p["phase"]: p["share"] for p in _steady(report)["phases"]}
        assert phases["sync"] < 0.05
        assert phases["backward"] > phases["forward"] > phases["optimizer"]
        for epoch in report["runs"][0]["epochs"]:
            assert sum(p["total_ms"] for p in epoch["phases"]) == pytest.approx(epoch["wall_ms"])
            assert abs(next(p["share"] for p in epoch["phases"] if p["phase"] == "other")) < 0.05


def test_under_the_async_executor_the_parts_wait_for_the_device(runs):
    parts = {p["part"]: p for p in _steady(runs["async"])["parts"]}
    # the calls returned before the work: most of backward is device wait, not host dispatch
    assert parts["backward"]["wait_ms"] > 3 * parts["backward"]["host_ms"]
    sync_parts = {p["part"]: p for p in _steady(runs["sync"])["parts"]}
    assert sync_parts["backward"]["host_ms"] > 3 * sync_parts["backward"]["wait_ms"]


def _under_each_executor(script: str) -> dict[str, dict]:
    return {
        mode: script_figures(script, *extra)
        for mode, extra in (("sync", ()), ("async", ("--async-executor",)))
    }


@pytest.fixture(scope="module")
def research_runs():
    return _under_each_executor("timing_paths.py")


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_fit_batches_and_fenced_phases_own_their_device_wait_under_each_executor(research_runs, mode):
    run = research_runs[mode]
    assert run["executor_async"] is (mode == "async")
    for path, owners in (("fit", ["compute"]), ("own", ["model/backward", "model/optimizer"])):
        figures = run[path]
        assert sum(figures["phases"].values()) == pytest.approx(figures["wall_ms"])
        assert figures["phases"]["sync"] < 0.05 * figures["wall_ms"], (
            path,
            figures,
        )  # the waits went to their phases
        for owner in owners:
            assert figures["waits_ms"].get(owner, 0.0) > 0, (path, owner, figures)
            assert figures["waits_ms"][owner] <= figures["phases"][owner]


def test_under_the_async_executor_a_fenced_phase_is_mostly_device_wait(research_runs):
    own = research_runs["async"]["own"]
    assert own["waits_ms"]["model/backward"] > 0.5 * own["phases"]["model/backward"], own


@pytest.fixture(scope="module")
def budget_runs():
    return _under_each_executor("budget_paths.py")


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_the_budget_pools_probes_over_short_epochs_and_fused_steps_run_in_blocks(budget_runs, mode):
    from statistics import median

    from tests.budget_paths import STALL_EPOCH, STALL_S, STALL_STEP
    from tfprof_m1.collection.loop import DEFAULT_SAMPLING, ProbePlan

    run = budget_runs[mode]
    assert run["executor_async"] is (mode == "async")
    epochs = run["epochs"]
    counts = [epoch["kinds"].count("probe") for epoch in epochs]
    assert counts[:2] == [1, 1]  # the warm-up traces the probe calls; the first steady epoch has parts
    # Each count is the budget's, from the costs the steady epochs measured (none: the cost so far);
    # the fenced fused steps are the planned share. The same kinds in the same order, as every worker
    # of a multi-worker run plans them.
    plan, expected, plans = ProbePlan(DEFAULT_SAMPLING), [], []
    for index, epoch in enumerate(epochs):  # planned before the epoch runs; its costs agreed after
        credit, costs = plan.carried + DEFAULT_SAMPLING.budget * epoch["steps"], plan.costs
        plans.append(plan.next_epoch(epoch["steps"]))
        expected.append([kind for kind in plans[-1] if kind != "unprofiled"])
        probes, stretches = expected[-1].count("probe"), plan.last[3]  # the epoch's own (pooled)
        if index >= 2 and probes:  # past the first two, a probe step runs only when the credit pays
            assert DEFAULT_SAMPLING.budget_spent(epoch["steps"], probes, costs, stretches) <= credit + 1e-9
        if index > 0:
            plan.agree(plan.share(epoch["probe_cost"], epoch["cut_cost"]))
    assert [epoch["kinds"] for epoch in epochs] == expected  # (how many depends on the measured costs)
    assert sum(e["kinds"].count("block") for e in epochs) > 0.7 * sum(e["steps"] for e in epochs)
    for epoch in epochs:  # fences: epoch start, 9 idle calls, 1 per fused, 4 per probe, 1 per block,
        kinds = epoch["kinds"]  # 1 per stretch, the epoch's end
        blocks = sum(
            1
            for row, kind in enumerate(kinds)
            if kind == "block" and (row == 0 or kinds[row - 1] != "block" or row in epoch["before_step"])
        )
        fenced = kinds.count("fused") + 4 * kinds.count("probe") + blocks + len(epoch["before_step"])
        assert epoch["fences"] == 1 + 9 + fenced + 1
        # the attribution adds up to the epoch's wall time, the block steps' shares included
        assert sum(epoch["totals_ms"].values()) == pytest.approx(epoch["wall_ms"])
    blocks = [wall for epoch in epochs[1:] for wall in epoch["block_ms"]]
    fenced = [wall for epoch in epochs[1:] for wall in epoch["fused_ms"]]
    if mode == "async":  # a fenced step loses the overlap of the next dispatch with its device work,
        assert median(blocks) < 0.8 * median(fenced)  # a block step keeps it (2.5x here)
        assert sum(wait > 0 for epoch in epochs[1:] for wait in epoch["block_waits_ms"]) > len(blocks) / 2
    # the injected input wait is the stalled step's input, not any step's compute
    unprofiled = [i for i, kind in enumerate(plans[STALL_EPOCH]) if kind == "unprofiled"]
    row = STALL_STEP - sum(1 for step in unprofiled if step < STALL_STEP)
    stalled = epochs[STALL_EPOCH]
    assert stalled["kinds"][row] == "block"
    assert stalled["input_ms"][row] >= STALL_S * 1000
    calm = [sum(epoch["compute_ms"]) for index, epoch in enumerate(epochs) if index not in (0, STALL_EPOCH)]
    assert sum(stalled["compute_ms"]) < median(calm) + 0.5 * STALL_S * 1000
