"""The profiler keeps an epoch's steps as typed arrays: exact round trips, and memory per step bounded.

Memory is measured with ``tracemalloc`` on the real profiler driving the real loop (a fake device on a
fake clock, so no TensorFlow and exact numbers): what the profiler holds after a run of N steps,
less what it holds after a run of N/10, over the difference in steps. A ratio of one run, never a
fact of this machine.
"""

from __future__ import annotations

import gc
import tracemalloc

from tests.fake_device import FakeClock, FakeDevice, FakeFence, FakeTrainSteps, StepModel, Work, batches
from tfprof_m1.collection.loop import Sampling, run_profiled_loop
from tfprof_m1.collection.profiler import EpochTiming, PhaseProfiler
from tfprof_m1.collection.step_table import StepTable, StepTiming

#: The issue's goal: profiler memory per step.
MAX_BYTES_PER_STEP = 100


def _steps() -> list[StepTiming]:
    return [
        StepTiming("fused", 32, 3.0, {"input": 0.5, "compute": 2.0, "sync": 0.1}, {"compute": 1.5}, {}, 0.0),
        StepTiming(
            "probe",
            32,
            9.0,
            {"input": 0.25, "profiling": 6.0, "compute": 2.5},
            {},
            {"empty_call": [0.5, 0.0], "fence_check": [0.2, 0.0]},
            3.0,
        ),
        StepTiming("fused", 16, 2.0, {"sync": 0.0, "input": 0.5}, {}, {}, 12.0),
    ]


def test_a_table_gives_back_the_steps_it_was_given():
    steps = _steps()
    table = StepTable(steps)
    assert len(table) == 3 and list(table) == steps and table == steps
    assert table[-1] == steps[2] and table[1:] == steps[1:]
    assert table.examples == 80
    # a phase recorded as exactly 0.0 is kept; one not recorded is absent (not 0.0)
    assert table[2].phases_ms == {"sync": 0.0, "input": 0.5}
    assert "compute" not in table[2].phases_ms


def test_a_tail_slice_replaces_the_last_steps_and_any_other_rebuilds():
    steps = _steps()
    table = StepTable(steps)
    halves = [StepTiming("fused", 8, 1.0, {"input": 0.25}, {}, {}, 12.0 + k) for k in range(2)]
    table[-1:] = halves
    assert list(table) == steps[:2] + halves
    table[0] = steps[2]
    assert list(table) == [steps[2], steps[1], *halves]
    table[1:] = []  # the probe's samples go with its row
    assert list(table) == [steps[2]]


def test_an_epoch_takes_a_list_of_steps_into_a_table():
    epoch = EpochTiming(0, 20.0, _steps(), complete=True)
    assert isinstance(epoch.steps, StepTable) and epoch.examples == 80


def _profiled_run(steps: int) -> PhaseProfiler:
    clock = FakeClock()
    device = FakeDevice(clock)
    profiler = PhaseProfiler(clock=clock, fence=FakeFence(device, 0.05), annotate=False)
    work = StepModel(Work(0.5, 0.0), Work(1.0, 1.0), Work(1.5, 3.0), Work(2.0, 4.0))
    train_steps = FakeTrainSteps(device, work)
    run_profiled_loop(train_steps, batches(clock, steps, input_ms=0.1), 2, steps, profiler, Sampling())
    return profiler


def _held_bytes(steps: int) -> int:
    """Bytes still allocated after a profiled run of 2 epochs of ``steps``, the profiler alive."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        profiler = _profiled_run(steps)
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    assert sum(len(epoch.steps) for epoch in profiler.epochs) > 1.6 * steps  # most steps are profiled
    return sum(stat.size_diff for stat in after.compare_to(before, "filename"))


def test_profiler_memory_per_step_is_bounded():
    small, large = 500, 5000
    per_step = (_held_bytes(large) - _held_bytes(small)) / (2 * (large - small))
    assert 0 < per_step <= MAX_BYTES_PER_STEP, f"{per_step:.0f} bytes per step"


def test_the_sampled_steps_and_their_columns_are_the_steps_read_one_by_one():
    from tfprof_m1.collection.profiler import FenceCheckSample

    both = {"empty_call": [0.5, 0.0], "full_step": [4.0, 1.0]}
    steps = [
        *_steps(),
        StepTiming("probe", 32, 8.0, {"input": 0.5, "compute": 2.0}, {"compute": 0.5}, both, 20.0),
        StepTiming("fused", 32, 3.0, {"compute": 2.0}, {}, {}, 28.0, FenceCheckSample(0.3, 0.1)),
        StepTiming(
            "probe", 8, 7.0, {"profiling": 4.0}, {}, {"full_step": [3.5, 0.5], "empty_call": [0.25, 0.0]}
        ),
    ]
    table = StepTable(steps)
    sampled = [step for step in steps if step.samples_ms]
    assert table.sampled() == sampled  # every figure gathered at once: the same records
    assert table.kinds() == [step.kind for step in steps]
    assert table.sample_columns() is None  # the first probe step timed other variants
    probes = StepTable(steps[3:])
    columns = probes.sample_columns()
    assert list(columns) == ["empty_call", "full_step"]
    assert [columns["full_step"][0].tolist(), columns["full_step"][1].tolist()] == [[4.0, 3.5], [1.0, 0.5]]
    assert StepTable().sampled() == [] and StepTable().sample_columns() is None and StepTable().kinds() == []
    probes.truncate(1)
    assert probes.sampled() == steps[3:4] and probes.sample_columns()["empty_call"][0].tolist() == [0.5]


def test_steps_added_a_run_at_a_time_make_the_same_table_as_one_by_one():
    """``extend`` adds runs of alike steps (a block's) a column at a time: the table, read back and
    column by column (NaN where a step has no such phase, columns in the order first met), must be
    the one ``append`` builds step by step, whatever the mix: kinds, a first step carrying an extra
    phase, a last step with ``sync``, new phases and waits appearing mid-run, probe samples."""
    import math
    import random

    from tfprof_m1.collection.step_table import FenceCheckSample

    rng = random.Random(5)
    steps = []
    for index in range(400):
        kind = rng.choice(["block"] * 6 + ["fused", "probe"])
        phases = {"input": rng.random(), "compute": rng.random()}
        if rng.random() < 0.05:
            phases = {"profiling": rng.random(), **phases}
        if rng.random() < 0.1:
            phases["sync"] = rng.random()
        if index > 200 and rng.random() < 0.2:
            phases["late"] = rng.random()  # a column first met mid-table
        waits = {"compute": rng.random()} if rng.random() < 0.7 else {}
        samples = {"full_step": [rng.random(), 0.0]} if kind == "probe" else {}
        check = FenceCheckSample(1.0, 0.0) if kind == "fused" and rng.random() < 0.3 else None
        steps.append(StepTiming(kind, 32, rng.random(), phases, waits, samples, float(index), check))
    by_runs, one_by_one = StepTable(), StepTable()
    for start in range(0, len(steps), 37):  # several extends, runs crossing their edges
        by_runs.extend(steps[start : start + 37])
    for step in steps:
        one_by_one.append(step)
    assert list(by_runs) == list(one_by_one) == steps
    assert by_runs.phase_names() == one_by_one.phase_names()
    for name in one_by_one.phase_names():
        ours, theirs = by_runs.column(name), one_by_one.column(name)
        assert len(ours) == len(theirs) == len(steps)
        assert all(a == b or (math.isnan(a) and math.isnan(b)) for a, b in zip(ours, theirs))
    assert by_runs.kinds() == one_by_one.kinds() and by_runs.wait_totals() == one_by_one.wait_totals()
