"""compare's verdicts on reports with known differences: intervals with the run as the unit.

The reports are built from drawn step times through the real summary code (test data, never
results). The three cases are the ones an IQR rule over pooled steps got wrong.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.report_factory import report_from_epochs, timed_epochs
from tfprof_m1.analysis.compare import compare
from tfprof_m1.collection.profiler import EpochTiming, StepTiming
from tfprof_m1.views.compare_render import render_comparison


def normal(mean_ms, sd_ms):
    return lambda rng, steps: np.clip(rng.normal(mean_ms, sd_ms, steps), 0.01, None)


def _compare(reference, other):
    (comparison,) = compare([reference, other])
    return comparison.differences[0]


def test_a_stall_outside_steps_is_a_clear_difference_explained_by_input():
    """Same steps, +1 s of input stall at each epoch's end: the IQR rule over steps said 'not significant'."""
    reference = report_from_epochs("ref", timed_epochs(normal(10.0, 0.5), seed=1))
    other = report_from_epochs("stall", timed_epochs(normal(10.0, 0.5), stall_ms=1000.0, seed=2))
    difference = _compare(reference, other)
    assert difference.epoch_clear and difference.epoch_ratio.low > 1.4
    assert difference.epoch_ratio.contains(difference.epoch_ratio.point)
    input_row = next(p for p in difference.phases if p.phase == "input")
    assert input_row.clear and input_row.share_of_difference > 0.95
    assert input_row.delta_ms.contains(1000.0)
    assert "stall is 1.4" in difference.verdict or "stall is 1.5" in difference.verdict


def test_one_percent_slower_with_tight_steps_is_no_clear_difference():
    """1 % slower, step CV 0.2 %: the IQR rule called it significant; it is inside the ±2 % band."""
    reference = report_from_epochs("ref", timed_epochs(normal(10.0, 0.02), seed=3))
    other = report_from_epochs("other", timed_epochs(normal(10.1, 0.02), seed=4))
    difference = _compare(reference, other)
    assert 1.005 < difference.epoch_ratio.point < 1.015
    assert not difference.epoch_clear
    assert "no clear difference" in difference.verdict


def test_fifteen_percent_slower_with_noisy_steps_is_clear_and_its_interval_holds_the_truth():
    """15 % slower, step CV 30 %: the IQR rule said 'not significant'; epochs average the noise out."""
    reference = report_from_epochs("ref", timed_epochs(normal(10.0, 3.0), seed=5))
    other = report_from_epochs("other", timed_epochs(normal(11.5, 3.45), seed=6))
    difference = _compare(reference, other)
    truth = (200 * 11.7 + 0.5) / (200 * 10.2 + 0.5)  # compute + 0.2 ms input per step
    assert difference.epoch_clear and difference.epoch_ratio.contains(truth)
    assert difference.epoch_ratio.high - difference.epoch_ratio.low < 0.1


def test_repeated_runs_are_the_unit_and_widen_the_interval_by_their_spread():
    def runs(offsets, mean_ms, seed):
        return [
            report_from_epochs("side", timed_epochs(normal(mean_ms * (1 + offset), 0.5), seed=seed + i))
            for i, offset in enumerate(offsets)
        ]

    steady = _compare_many(runs([0, 0, 0], 10.0, 10), runs([0, 0, 0], 10.5, 20))
    drifting = _compare_many(runs([-0.04, 0, 0.04], 10.0, 10), runs([-0.04, 0, 0.04], 10.5, 20))
    width = lambda d: d.epoch_ratio.high - d.epoch_ratio.low  # noqa: E731
    assert width(drifting) > 3 * width(steady)  # run-to-run spread counts
    assert steady.epoch_clear


def _compare_many(reference_runs, other_runs):
    for report in other_runs:
        report.environment.device_label = "other"
    (comparison,) = compare([*reference_runs, *other_runs])
    assert [f.repeats for f in comparison.figures] == [3, 3]
    return comparison.differences[0]


def test_too_few_steady_epochs_is_said_not_judged():
    reference = report_from_epochs("ref", timed_epochs(normal(10.0, 0.5), epochs=2, seed=1))
    other = report_from_epochs("other", timed_epochs(normal(20.0, 0.5), epochs=2, seed=2))
    difference = _compare(reference, other)
    assert difference.too_little_data and not difference.epoch_clear
    assert "too little data" in difference.verdict
    assert "too little data: not judged" in render_comparison(compare([reference, other]))


def _probe_epochs(noise_ms, seed, scale=1.0):
    """Fused steps and probe steps whose forward/backward samples carry ``noise_ms`` of noise."""
    rng = np.random.default_rng(seed)
    epochs = []
    for index in range(5):
        steps = []
        for position in range(100):
            compute = 10.0 * scale
            if position % 5 == 2:
                forward = 3.0 * scale + rng.normal(0, noise_ms)
                samples = {
                    "empty_call": [0.1, 0.0],
                    "forward_only": [0.1 + forward, 0.0],
                    "forward_backward": [9.1 * scale, 0.0],
                    "full_step": [0.1 + compute, 0.0],
                }
                steps.append(
                    StepTiming(
                        "probe",
                        32,
                        0.2 + compute + 20,
                        {"input": 0.2, "compute": compute, "profiling": 20.0},
                        samples_ms=samples,
                    )
                )
            else:
                steps.append(StepTiming("fused", 32, 0.2 + compute, {"input": 0.2, "compute": compute}))
        epochs.append(EpochTiming(index, sum(s.wall_ms for s in steps) + 0.5, steps, {}, complete=True))
    return epochs


def test_phase_intervals_also_resample_the_probe_samples_that_split_compute():
    exact = _compare(
        report_from_epochs("ref", _probe_epochs(0.0, 1)),
        report_from_epochs("other", _probe_epochs(0.0, 2, 1.2)),
    )
    noisy = _compare(
        report_from_epochs("ref", _probe_epochs(1.0, 1)),
        report_from_epochs("other", _probe_epochs(1.0, 2, 1.2)),
    )
    forward = lambda d: next(p for p in d.phases if p.phase == "forward")  # noqa: E731
    width = lambda p: p.delta_ms.high - p.delta_ms.low  # noqa: E731
    assert width(forward(noisy)) > 10 * max(width(forward(exact)), 1e-9)
    # The epochs themselves are the same in both: only the split's uncertainty differs.
    assert noisy.epoch_ratio.point == pytest.approx(exact.epoch_ratio.point)


def test_labels_name_a_sweep_and_time_per_example_compares_batch_sizes():
    small = report_from_epochs("cpu", timed_epochs(normal(10.0, 0.5), examples=32, seed=1), batch_size=32)
    large = report_from_epochs("cpu", timed_epochs(normal(30.0, 0.5), examples=128, seed=2), batch_size=128)
    (comparison,) = compare([small, large], labels=["batch 32", "batch 128"])
    assert [f.label for f in comparison.figures] == ["batch 32", "batch 128"]
    difference = comparison.differences[0]
    assert difference.epoch_ratio.point > 2.5  # per step (and epoch of 200 steps) slower...
    assert difference.example_ratio.high < 0.8  # ...per example faster
    assert difference.confounds[0].startswith("batch size: 32 against 128")
    text = render_comparison([comparison])
    assert "custom-loop time per example (µs)" in text and "batch 32 (reference)" in text


def _distributed_epochs(seed, all_reduce_ms):
    """Fused steps and probe steps of a tf.distribute run: the samples carry the all-reduce variant
    (forward 3, backward 6, all-reduce ``all_reduce_ms``, optimizer 1 ms, with noise)."""
    rng = np.random.default_rng(seed)
    epochs = []
    for index in range(5):
        steps = []
        for position in range(60):
            noise = rng.normal(0, 0.2, 4)
            forward, backward = 3.0 + noise[0], 6.0 + noise[1]
            reduce, optimizer = all_reduce_ms + noise[2], 1.0 + noise[3]
            compute = forward + backward + reduce + optimizer + 0.1
            if position % 5 == 2:
                samples = {
                    "empty_call": [0.1, 0.0],
                    "forward_only": [0.1 + forward, 0.0],
                    "forward_backward": [0.1 + forward + backward, 0.0],
                    "forward_backward_all_reduce": [0.1 + forward + backward + reduce, 0.0],
                    "full_step": [compute, 0.0],
                }
                phases = {"input": 0.2, "compute": compute, "profiling": compute - 0.1}
                steps.append(StepTiming("probe", 32, sum(phases.values()), phases, samples_ms=samples))
            else:
                steps.append(StepTiming("fused", 32, 0.2 + compute, {"input": 0.2, "compute": compute}))
        epochs.append(EpochTiming(index, sum(s.wall_ms for s in steps) + 0.5, steps, {}, complete=True))
    return epochs


def test_distributed_compare_splits_the_all_reduce_as_the_report_does_and_its_intervals_hold_their_points():
    """The bootstrap re-splits compute with the estimate's own part rule: under tf.distribute the
    all-reduce is a part of its own, never counted again inside the optimizer."""
    reference = report_from_epochs("ref", _distributed_epochs(1, all_reduce_ms=2.0))
    other = report_from_epochs("other", _distributed_epochs(2, all_reduce_ms=6.0))
    parts = {part.part: part.ms for part in other.runs[0].steady.parts}
    assert parts["all_reduce"] == pytest.approx(6.0, abs=0.3) and parts["optimizer"] == pytest.approx(
        1.0, abs=0.3
    )
    difference = _compare(reference, other)
    rows = {row.phase: row for row in difference.phases}
    assert "all_reduce" in rows and "profiling" not in rows
    for row in rows.values():
        assert row.delta_ms.contains(row.delta_ms.point), row
    assert difference.epoch_ratio.contains(difference.epoch_ratio.point)
    # the all-reduce explains the difference; the optimizer, the same on both sides, does not
    assert rows["all_reduce"].clear and rows["all_reduce"].share_of_difference > 0.8
    assert rows["optimizer"].delta_ms.contains(0.0)
    assert "all_reduce" in difference.verdict.split("of the difference")[1]
