"""Attribution of fused compute time by split-step proportions, on hand-made timings."""

from __future__ import annotations

import pytest

from tfprof_m1.attribution import attribute_epoch, attribute_epochs, split_proportions
from tfprof_m1.profiler import EpochTiming, StepTiming


def fused(compute, sync=0.1, input_ms=1.0):
    return StepTiming("fused", 32, compute + sync, {"input": input_ms, "compute": compute, "sync": sync})


def split(forward, backward, optimizer, sync=0.3, input_ms=1.0):
    return StepTiming("split", 32, forward + backward + optimizer + sync,
                      {"input": input_ms, "forward": forward, "backward": backward, "optimizer": optimizer, "sync": sync})


def test_fused_compute_is_divided_by_split_medians_and_everything_adds_up():
    steps = [fused(10.0), split(2.0, 6.0, 2.0), fused(20.0), split(3.0, 5.0, 2.0), split(2.0, 6.0, 200.0)]
    epoch = EpochTiming(index=1, wall_ms=400.0, steps=steps, unassigned_ms={"input": 4.0}, complete=True)
    breakdown = attribute_epoch(epoch)
    # medians: forward 2, backward 6, optimizer 2 -> 0.2 / 0.6 / 0.2 (the 200 ms outlier does not tilt them)
    assert breakdown.proportions == pytest.approx({"forward": 0.2, "backward": 0.6, "optimizer": 0.2})
    assert breakdown.proportions_source == "epoch"
    assert breakdown.per_step_ms["forward"] == pytest.approx([2.0, 2.0, 4.0, 3.0, 2.0])
    assert breakdown.per_step_ms["backward"] == pytest.approx([6.0, 6.0, 12.0, 5.0, 6.0])
    assert breakdown.totals_ms["input"] == pytest.approx(5 * 1.0 + 4.0)
    assert "compute" not in breakdown.totals_ms
    assert sum(breakdown.totals_ms.values()) == pytest.approx(400.0)
    measured = 9.0 + 13.0 + 35.0 + 210.0 + 1.1  # input, forward, backward, optimizer, sync
    assert breakdown.totals_ms["other"] == pytest.approx(400.0 - measured)
    assert breakdown.split_steps == 3 and breakdown.steps == 5
    # split steps cost (10.3 + 10.3 + 208.3) against a fused median of (10.1 + 20.1) / 2 each
    assert breakdown.split_overhead_ms == pytest.approx(228.9 - 3 * 15.1)


def test_epoch_without_samples_borrows_pooled_proportions():
    with_samples = EpochTiming(0, 100.0, [split(1.0, 2.0, 1.0), fused(8.0)], complete=True)
    without = EpochTiming(1, 50.0, [fused(8.0), fused(8.0)], complete=True)
    first, second = attribute_epochs([with_samples, without])
    assert first.proportions_source == "epoch"
    assert second.proportions_source == "pooled"
    assert second.per_step_ms["backward"] == pytest.approx([4.0, 4.0])


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


def test_split_proportions_none_without_split_steps():
    assert split_proportions([fused(1.0)]) is None


def test_step_totals_add_each_steps_phases():
    from tfprof_m1.attribution import step_totals

    assert step_totals({"input": [1.0, 2.0], "forward": [3.0, 0.5], "sync": [0.25, 0.25]}) == [4.25, 2.75]
    assert step_totals({}) == []
