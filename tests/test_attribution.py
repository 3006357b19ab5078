"""Attribution of fused compute time by probe (or split) proportions, on hand-made timings."""

from __future__ import annotations

import pytest

from tfprof_m1.analysis.attribution import (
    _fences,
    attribute_epoch,
    attribute_epochs,
    profiled_blocks,
    sample_proportions,
    step_totals,
)
from tfprof_m1.collection.profiler import MAX_BLOCK_STEPS, EpochTiming, StepTiming, StretchTiming


def fused(compute, sync=0.1, input_ms=1.0, started_ms=0.0):
    return StepTiming(
        "fused",
        32,
        compute + sync,
        {"input": input_ms, "compute": compute, "sync": sync},
        started_ms=started_ms,
    )


def probe(empty, forward_only, forward_backward, full, profiling=None):
    """A probe step: each variant's [host, wait]; the full step is the step's compute."""
    samples = {
        "empty_call": [empty, 0.0],
        "forward_only": [forward_only, 0.0],
        "forward_backward": [forward_backward, 0.0],
        "full_step": [full, 0.0],
    }
    spent = profiling if profiling is not None else empty + forward_only + forward_backward
    return StepTiming(
        "probe",
        32,
        full + spent,
        {"input": 1.0, "compute": full, "profiling": spent, "sync": 0.4},
        samples_ms=samples,
    )


def split(forward, backward, optimizer, sync=0.3, input_ms=1.0):
    return StepTiming(
        "split",
        32,
        forward + backward + optimizer + sync,
        {"input": input_ms, "forward": forward, "backward": backward, "optimizer": optimizer, "sync": sync},
    )


def test_fused_compute_is_divided_by_probe_medians_and_everything_adds_up():
    # per-sample parts: call 1, forward 2, backward 5, optimizer 2 (twice); one outlier sample
    steps = [
        fused(10.0),
        probe(1.0, 3.0, 8.0, 10.0),
        fused(20.0),
        probe(1.0, 3.0, 8.0, 10.0),
        probe(1.0, 3.0, 8.0, 300.0),
    ]
    epoch = EpochTiming(
        index=1, wall_ms=500.0, steps=steps, outside_steps_ms={"input": 4.0, "sync": 0.2}, complete=True
    )
    breakdown = attribute_epoch(epoch)
    # medians of the paired differences: 1 / 2 / 5 / 2 -> 0.1 / 0.2 / 0.5 / 0.2 (the outlier does not tilt
    # them)
    assert breakdown.proportions == pytest.approx(
        {"call": 0.1, "forward": 0.2, "backward": 0.5, "optimizer": 0.2}
    )
    assert breakdown.proportions_source == "epoch"
    assert breakdown.step_ms["call"] == pytest.approx([1.0, 1.0, 2.0, 1.0, 30.0])
    assert breakdown.step_ms["backward"] == pytest.approx([5.0, 5.0, 10.0, 5.0, 150.0])
    assert breakdown.totals_ms["profiling"] == pytest.approx(3 * 12.0)
    assert breakdown.totals_ms["input"] == pytest.approx(5 * 1.0 + 4.0)
    assert "compute" not in breakdown.totals_ms
    assert sum(breakdown.totals_ms.values()) == pytest.approx(500.0)
    measured = 9.0 + 350.0 + 36.0 + 0.2 + 0.2 + 3 * 0.4  # input, compute, profiling, sync
    assert breakdown.totals_ms["other"] == pytest.approx(500.0 - measured)
    assert breakdown.sampled_steps == 3 and breakdown.steps == 5
    assert len(breakdown.samples) == 3


def test_warm_up_epoch_uses_the_steady_epochs_pooled_proportions():
    warm_up = EpochTiming(0, 100.0, [probe(1.0, 2.0, 3.0, 4.0), fused(8.0)], complete=True)  # 1/1/1/1
    steady = EpochTiming(1, 50.0, [probe(1.0, 3.0, 8.0, 10.0), fused(10.0)], complete=True)  # 1/2/5/2
    first, second = attribute_epochs([warm_up, steady])
    assert first.proportions_source == second.proportions_source == "pooled"
    assert first.proportions == pytest.approx(
        {"call": 0.1, "forward": 0.2, "backward": 0.5, "optimizer": 0.2}
    )
    assert first.step_ms["backward"] == pytest.approx([2.0, 4.0])


def test_split_steps_give_proportions_when_there_are_no_probes():
    steps = [split(2.0, 6.0, 2.0), fused(20.0)]
    assert sample_proportions(steps) == pytest.approx({"forward": 0.2, "backward": 0.6, "optimizer": 0.2})
    (breakdown,) = attribute_epochs([EpochTiming(0, 40.0, steps, complete=True)])
    assert breakdown.step_ms["backward"] == pytest.approx([6.0, 12.0])
    assert "call" not in breakdown.totals_ms  # a split step cannot separate the call


def test_no_samples_anywhere_leaves_compute_unsplit_and_says_so():
    (breakdown,) = attribute_epochs([EpochTiming(0, 30.0, [fused(8.0), fused(9.0)], complete=True)])
    assert breakdown.proportions is None
    assert breakdown.totals_ms["compute"] == pytest.approx(17.0)
    assert breakdown.notes and "unsplit" in breakdown.notes[0]
    assert sum(breakdown.totals_ms.values()) == pytest.approx(30.0)


def test_a_research_loops_own_phase_names_are_kept():
    step = StepTiming("custom", 8, 5.0, {"input": 1.0, "augment": 3.0})
    (breakdown,) = attribute_epochs([EpochTiming(0, 6.0, [step], complete=True)])
    assert breakdown.totals_ms["augment"] == 3.0
    assert breakdown.totals_ms["other"] == pytest.approx(2.0)


def test_unprofiled_stretches_are_their_own_slice_and_cut_the_profiled_blocks():
    # steps start every 10 ms; a stretch of 3 steps sits between step 3 and step 4 (30 ms)
    starts = [0.0, 10.0, 20.0, 30.0, 70.0, 80.0, 90.0, 100.0]
    steps = [fused(9.0, started_ms=t) for t in starts]
    stretch = StretchTiming(started_ms=40.0, steps=3, examples=96, wall_ms=30.0, before_step=4)
    epoch = EpochTiming(1, 120.0, steps, complete=True, stretches=[stretch])
    (breakdown,) = attribute_epochs([epoch])
    assert breakdown.totals_ms["unprofiled"] == 30.0
    assert "unprofiled" not in breakdown.step_ms
    assert sum(breakdown.totals_ms.values()) == pytest.approx(120.0)
    assert epoch.examples == 8 * 32 + 96
    # step 0 (pipeline start) and the last step (no next start) are left out; the stretch cuts the run
    assert profiled_blocks(epoch, block_steps=2) == [(2, 20.0), (1, 10.0), (2, 20.0), (1, 10.0)]
    assert profiled_blocks(epoch, block_steps=20) == [(3, 30.0), (3, 30.0)]


def _fences_step_by_step(is_block, before_steps):
    """The profiler's fences, one step at a time: a step that is not a block step is fenced; a block
    is closed before a step that is not a block step, before a stretch, at the epoch's end and once
    it holds MAX_BLOCK_STEPS steps."""
    fences, open_steps = [], 0
    for step, block in enumerate(is_block):
        last = step == len(is_block) - 1
        open_steps = open_steps + 1 if block else 0
        if (
            not block
            or last
            or not is_block[step + 1]
            or step + 1 in before_steps
            or open_steps == MAX_BLOCK_STEPS
        ):
            fences.append(step)
            open_steps = 0
    return fences


@pytest.mark.parametrize("seed", range(12))
def test_the_fences_read_from_stretches_of_steps_are_the_profilers_rule(seed):
    """Where fences fell, read from the stretches between the fences of other steps (with the
    profiler's MAX_BLOCK_STEPS rule inside each), is the rule applied step by step: blocks shorter
    and longer than MAX_BLOCK_STEPS, several times it, runs of other steps, stretches anywhere."""
    import numpy as np

    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 3 * MAX_BLOCK_STEPS + 2, size=12)
    is_block = np.concatenate([np.arange(n) < n - rng.integers(0, 3) for n in lengths])
    before = sorted({int(b) for b in rng.integers(1, len(is_block) + 1, size=rng.integers(0, 6))})
    stretches = [StretchTiming(0.0, 5, 160, 5.0, before_step=b) for b in before]
    expected = _fences_step_by_step(is_block.tolist(), set(before))
    assert _fences(is_block.copy(), stretches).tolist() == expected


def test_phases_that_cover_the_epoch_leave_no_other_time_but_their_sums_rounding():
    """Where the phases cover the whole epoch, their totals (sums of thousands of per-step values)
    add up to its wall time only up to rounding, a few units in the last place either way: that is
    no time, and ``other`` reads 0.0, never a negative time a report cannot hold. Time the phases
    leave uncovered is still ``other``, however small against the epoch."""
    import random

    rng = random.Random(3)
    steps, clock = [], 0.0
    for _ in range(3000):
        input_ms, compute = rng.uniform(0.01, 0.2), rng.uniform(0.5, 3.0)
        steps.append(fused(compute, sync=0.0, input_ms=input_ms, started_ms=clock))
        clock += input_ms + compute  # the epoch's clock reads every step's phases one after another
    covered = EpochTiming(1, clock, steps, complete=True)
    (breakdown,) = attribute_epochs([covered])
    assert breakdown.totals_ms["other"] == 0.0
    assert sum(v for k, v in breakdown.totals_ms.items() if k != "other") == pytest.approx(clock, rel=1e-12)
    wider = EpochTiming(1, clock + 1e-4, steps, complete=True)  # 0.1 µs the phases do not cover
    (breakdown,) = attribute_epochs([wider])
    assert breakdown.totals_ms["other"] == pytest.approx(1e-4, rel=1e-6)


def test_step_totals_add_each_steps_phases():
    assert step_totals({"input": [1.0, 2.0], "forward": [3.0, 0.5], "sync": [0.25, 0.25]}) == [4.25, 2.75]
    assert step_totals({}) == []


def gan_split(generator_forward, generator_backward, clip, optimizer, augment=0.5):
    """A research loop's split step: nested and custom phases, plus an augment every step has."""
    phases = {
        "input": 1.0,
        "augment": augment,
        "generator": 0.0,
        "generator/forward": generator_forward,
        "generator/backward": generator_backward,
        "clip": clip,
        "optimizer": optimizer,
        "sync": 0.2,
    }
    return StepTiming("split", 32, sum(phases.values()), phases)


def gan_fused(compute, augment=0.5):
    return StepTiming(
        "fused",
        32,
        compute + augment + 0.1,
        {"input": 1.0, "augment": augment, "compute": compute, "sync": 0.1},
    )


def test_custom_split_phases_divide_fused_compute_in_the_order_first_seen():
    # parts: generator/forward 2, generator/backward 4, clip 1, optimizer 1 -> 0.25 / 0.5 / 0.125 / 0.125
    steps = [
        gan_fused(16.0),
        gan_split(2.0, 4.0, 1.0, 1.0),
        gan_fused(8.0),
        gan_split(2.0, 4.0, 1.0, 1.0),
        gan_fused(8.0),
    ]
    epoch = EpochTiming(index=0, wall_ms=100.0, steps=steps, outside_steps_ms={"input": 2.0}, complete=True)
    (breakdown,) = attribute_epochs([epoch])
    # "augment" is on every step: not a part of compute; "generator" (the outer phase) was 0 on its own
    assert breakdown.proportions == pytest.approx(
        {
            "generator": 0.0,
            "generator/forward": 0.25,
            "generator/backward": 0.5,
            "clip": 0.125,
            "optimizer": 0.125,
        }
    )
    assert list(breakdown.totals_ms) == [
        "input",
        "augment",
        "generator",
        "generator/forward",
        "generator/backward",
        "clip",
        "optimizer",
        "sync",
        "other",
    ]
    assert breakdown.step_ms["clip"] == pytest.approx(
        [2.0, 1.0, 1.0, 1.0, 1.0]
    )  # fused steps scaled like the rest
    assert breakdown.totals_ms["clip"] == pytest.approx(0.125 * 32.0 + 2.0)
    assert not breakdown.notes
    assert sum(breakdown.totals_ms.values()) == pytest.approx(100.0)
    # built-in rows that never occurred are not listed
    assert "forward" not in breakdown.totals_ms and "call" not in breakdown.totals_ms


def test_an_epochs_probe_samples_are_read_as_columns_and_equal_the_steps_samples():
    from tfprof_m1.analysis.attribution import epoch_samples, probe_samples
    from tfprof_m1.analysis.estimate import estimate_parts, part_medians
    from tfprof_m1.report.step_codec import ProbeSamples, joined_samples

    steps = [fused(10.0), probe(1.0, 3.0, 7.0, 10.0), fused(11.0), probe(1.5, 3.5, 7.5, 11.0)]
    epochs = [EpochTiming(k, 100.0, steps) for k in range(3)]
    columns = epoch_samples(epochs[0])
    assert isinstance(columns, ProbeSamples) and columns == probe_samples(epochs[0].steps.sampled())
    # one probe step that timed only some variants: no columns, the steps' own samples
    partial = [*steps, StepTiming("probe", 32, 5.0, {"compute": 4.0}, samples_ms={"empty_call": [1.0, 0.0]})]
    listed = epoch_samples(EpochTiming(0, 100.0, partial))
    assert not isinstance(listed, ProbeSamples) and listed == columns
    # pooled as columns, every figure is what the samples one by one give
    pooled = joined_samples([epoch_samples(epoch) for epoch in epochs])
    one_by_one = [sample for epoch in epochs for sample in probe_samples(epoch.steps.sampled())]
    assert isinstance(pooled, ProbeSamples) and pooled == one_by_one
    assert part_medians(pooled) == part_medians(one_by_one)
    assert estimate_parts(pooled) == estimate_parts(one_by_one)
    assert joined_samples([columns, listed[:1] + [{"empty_call": [1.0, 0.0]}]]) == [
        *columns,
        *listed[:1],
        {"empty_call": [1.0, 0.0]},
    ]
    breakdowns = attribute_epochs(epochs)
    assert breakdowns[1].proportions == sample_proportions([s for e in epochs[1:] for s in e.steps])
