"""Assembling a report from timings (pure Python, hand-made timings): warnings, own phases, the
fence record, and the traced-step lookup across unprofiled stretches."""

from __future__ import annotations

import pytest

from tfprof_m1.analysis.assemble import _locate, build_model_run, fence_cost, trace_timing
from tfprof_m1.analysis.attribution import attribute_epochs
from tfprof_m1.collection.profiler import EpochTiming, StepTiming, StretchTiming


def step(compute: float, **phases: float) -> StepTiming:
    values = {"input": 1.0, "compute": compute, **phases, "sync": 0.1}
    return StepTiming("fused", 16, sum(values.values()), values)


def epoch(index: int, end_input_ms: float = 0.0, **phases: float) -> EpochTiming:
    steps = [step(10.0, **phases) for _ in range(4)]
    wall = sum(s.wall_ms for s in steps) + end_input_ms + 1.0
    return EpochTiming(
        index,
        wall,
        steps,
        outside_steps_ms={"input": end_input_ms},
        complete=True,
        fence_idle_ms=0.1 + index / 100,
        fence="host_read",
    )


def test_an_input_stall_after_the_last_step_is_a_warning_naming_autotune():
    run = build_model_run([epoch(0), epoch(1, end_input_ms=20.0)], model="mine")
    (warning,) = run.warnings
    assert warning.startswith("epoch 2: the input pipeline took 0.02 s") and "autotun" in warning
    assert build_model_run([epoch(0), epoch(1, end_input_ms=1.0)]).warnings == []


def test_own_phases_are_listed_and_batch_size_inferred():
    run = build_model_run([epoch(0, augment=2.0), epoch(1, augment=2.0)], model="mine")
    assert run.custom_phases == ["augment"] and run.batch_size == 16 and run.steps_per_epoch == 4
    assert run.source == "loop" and run.headline.framework_overhead_ms is None


def test_the_fence_record_comes_from_the_epochs():
    info = fence_cost([epoch(0), epoch(1), epoch(2)])
    assert info.name == "host_read" and info.median_ms == pytest.approx(0.11) and info.calls == 27
    assert fence_cost([EpochTiming(0, 1.0)]) is None


def test_traced_global_steps_are_found_across_unprofiled_stretches():
    # epoch of 6 steps: profiled 0, 1, then a stretch of 2 (global 2-3), then profiled 2, 3 (global 4-5)
    steps = [step(float(10 + i)) for i in range(4)]
    timing = EpochTiming(
        0,
        200.0,
        steps,
        stretches=[StretchTiming(started_ms=30.0, steps=2, wall_ms=20.0, before_step=2)],
        complete=True,
    )
    breakdowns = attribute_epochs([timing, timing])
    assert [_locate(breakdowns, g) for g in range(13)] == [
        (0, 0),
        (0, 1),
        None,
        None,
        (0, 2),
        (0, 3),
        (1, 0),
        (1, 1),
        None,
        None,
        (1, 2),
        (1, 3),
        None,
    ]
    _, mean_step = trace_timing(breakdowns, [4, 5])
    assert mean_step == pytest.approx((13.1 + 14.1) / 2)  # profiled steps 2 and 3: input + compute + sync


def test_a_diverged_loss_becomes_null_with_a_warning_and_the_report_stays_json():
    import dataclasses
    import json

    class Fit:
        epoch_ms, losses, accuracies, jit_compile = (
            [50.0, 40.0],
            [2.0, float("inf")],
            [0.1, float("nan")],
            False,
        )

    run = build_model_run(
        [epoch(0), epoch(1)], model="mine", losses=[2.3, float("nan")], accuracies=[0.1, 0.2], fit=Fit()
    )
    assert [e.loss for e in run.epochs] == [2.3, None] and run.fit.losses == [2.0, None]
    assert run.warnings[:2] == [
        "epoch 2: the training loss was nan (training diverged?); recorded as null",
        "fit epoch 2: the loss was inf (training diverged?); recorded as null",
    ]
    # What Report.to_dict gives (per-step arrays as lists) must be JSON with no NaN anywhere.
    json.dumps(dataclasses.asdict(run), allow_nan=False, default=list)
