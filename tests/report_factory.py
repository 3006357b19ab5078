"""Reports built from hand-made timings through the real summary code: test data, never results."""

from __future__ import annotations

import dataclasses

from tfprof_m1.analysis.attribution import attribute_epochs
from tfprof_m1.analysis.figures import epoch_report, fit_report, headline, loop_summary
from tfprof_m1.analysis.scaling import scaling_efficiency
from tfprof_m1.collection.environment import Environment
from tfprof_m1.collection.fence import FenceCost
from tfprof_m1.collection.profiler import EpochTiming, StepTiming
from tfprof_m1.collection.strategies import Distribution
from tfprof_m1.report.model import DataInfo, ModelRun, Report, RunConfig


def _epoch(index: int, scale: float) -> EpochTiming:
    steps = []
    for i in range(10):
        if i % 5 == 2:
            phases = {
                "input": 0.2,
                "forward": 3.0 * scale,
                "backward": 6.0 * scale,
                "optimizer": 1.0 * scale,
                "sync": 0.3,
            }
            kind = "split"
        else:
            phases = {"input": 0.2, "compute": 9.0 * scale + i * 0.01, "sync": 0.1}
            kind = "fused"
        steps.append(StepTiming(kind, 32, sum(phases.values()), phases))
    wall = sum(step.wall_ms for step in steps) + 1.5
    return EpochTiming(index, wall, steps, {"input": 0.5}, complete=True)


def make_model_run(model: str = "cifar10", scale: float = 1.0, epochs: int = 3, fit: bool = True) -> ModelRun:
    timings = [_epoch(i, scale * (3.0 if i == 0 else 1.0)) for i in range(epochs)]
    breakdowns = attribute_epochs(timings)
    steady = loop_summary(breakdowns)
    fit_result = (
        fit_report(
            [300.0 * scale, 130.0 * scale, 128.0 * scale][:epochs], [2.0] * epochs, [0.3] * epochs, False
        )
        if fit
        else None
    )
    return ModelRun(
        model=model,
        dataset="CIFAR-10",
        data=DataInfo("synthetic", "test data", None, 320, 50_000),
        batch_size=32,
        steps_per_epoch=10,
        forward_flops_per_example=9_098_624,
        sample_every=5,
        min_samples=1,
        epochs=[epoch_report(b, 2.0, 0.3, warmup=b.index == 0) for b in breakdowns],
        steady=steady,
        fit=fit_result,
        headline=headline(breakdowns, steady, fit_result),
        fence=FenceCost("host_read", 50, 0.004, 0.001),
    )


def make_report(
    label: str = "cpu", models: tuple[str, ...] = ("cifar10",), batch_size: int = 32, **kwargs
) -> Report:
    """A report whose device is ``label`` (GPU-shaped labels are test data, not measurements)."""
    report = Report(
        config=RunConfig(["cifar10"], 3, 10, 32, "synthetic", None, "cpu", 0, True, 5, 1),
        environment=Environment(
            "3.11.7",
            "test-platform",
            "x86_64",
            2,
            "2.21.0",
            "3.15.1",
            "2.4.6",
            "0.1.0",
            ["CPU:/physical_device:CPU:0"],
            "/CPU:0",
            "cpu",
        ),
        runs=[make_model_run(model=model, **kwargs) for model in models],
        created="2026-11-28T00:00:00+00:00",
        method={"clock": "fake"},
    )
    report.environment.device_label = label
    report.environment.cpu_model = "test CPU"
    report.config = dataclasses.replace(report.config, batch_size=batch_size)
    for run in report.runs:
        run.batch_size = batch_size
    return report


def report_from_epochs(
    label: str, timings: list[EpochTiming], model: str = "cifar10", batch_size: int = 32
) -> Report:
    """A report of one run whose epochs are ``timings`` (made by a test), through the real summary code."""
    report = make_report(label, batch_size=batch_size)
    breakdowns = attribute_epochs(timings)
    steady = loop_summary(breakdowns)
    run = report.runs[0]
    run.model = model
    run.fit = None
    run.epochs = [epoch_report(b, None, None, warmup=b.index == 0) for b in breakdowns]
    run.steady = steady
    run.steps_per_epoch = max(len(t.steps) for t in timings)
    run.headline = headline(breakdowns, steady, None)
    return report


def timed_epochs(
    step_ms, epochs: int = 6, steps: int = 200, stall_ms: float = 0.0, seed: int = 0, examples: int = 32
) -> list[EpochTiming]:
    """Epochs of fused steps whose compute is drawn by ``step_ms(rng, steps)`` (ms), 0.2 ms input each,
    and ``stall_ms`` of input wait after the last step (a pipeline that stalls at the epoch's end)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    result = []
    for index in range(epochs):
        computes = step_ms(rng, steps)
        steps_list = [
            StepTiming("fused", examples, 0.2 + float(c), {"input": 0.2, "compute": float(c)})
            for c in computes
        ]
        wall = sum(step.wall_ms for step in steps_list) + stall_ms + 0.5
        result.append(EpochTiming(index, wall, steps_list, {"input": stall_ms}, complete=True))
    return result


def worker_epochs(step_ms: list[float], epochs: int = 3) -> list[EpochTiming]:
    result = []
    for index in range(epochs):
        steps = [StepTiming("fused", 32, ms, {"compute": ms}) for ms in step_ms]
        result.append(EpochTiming(index, sum(step_ms), steps, {}, complete=True))
    return result


def worker_report(path, worker: int, step_ms: list[float], baseline=None):
    """Worker ``worker`` of a two-worker mnist run whose steps took ``step_ms``, saved to ``path``."""
    report = report_from_epochs("cpu", worker_epochs(step_ms), model="mnist")
    run = report.runs[0]
    run.distribution = Distribution(
        "multiworker",
        2,
        [f"/job:worker/replica:0/task:{worker}/device:CPU:0"],
        32,
        worker=worker,
        workers=["127.0.0.1:1", "127.0.0.1:2"],
    )
    report.config = dataclasses.replace(report.config, strategy="multiworker")
    if baseline is not None:
        run.scaling = scaling_efficiency([1.0], baseline, 1)
    report.save(path)
    return str(path)


def probed_epochs(epochs: int = 3, steps: int = 40, seed: int = 0) -> list[EpochTiming]:
    """Epochs with probe steps (every 5th: the four prefix calls and the coverage fence timed), fused
    steps between, and one unprofiled stretch in the middle: every estimate with an interval (the
    parts' shares, the profiling cost) has data."""
    import numpy as np

    from tfprof_m1.collection.profiler import FenceCheckSample, StretchTiming

    rng = np.random.default_rng(seed)
    result = []
    for index in range(epochs):
        clock, timed, stretches = 0.0, [], []
        for position in range(steps):
            if position == steps // 2:
                stretch_ms = 10 * (0.2 + 9.0) * 0.97
                stretches.append(StretchTiming(clock, 10, 320, stretch_ms, before_step=position))
                clock += stretch_ms
            noise = rng.normal(0, 0.1, 4).tolist()
            compute = 9.0 + noise[3]
            if position % 5 == 2:
                samples = {
                    "empty_call": [0.5 + noise[0], 0.0],
                    "forward_only": [2.3 + noise[1], 0.2],
                    "forward_backward": [7.2 + noise[2], 0.3],
                    "full_step": [compute - 0.4, 0.4],
                }
                phases = {"input": 0.2, "compute": compute, "profiling": compute - 0.5}
                step = StepTiming(
                    "probe", 32, sum(phases.values()), phases, samples_ms=samples, started_ms=clock
                )
                step.fence_check = FenceCheckSample(0.2, 0.01 + abs(noise[0]) / 10)
            else:
                step = StepTiming(
                    "fused", 32, 0.2 + compute, {"input": 0.2, "compute": compute}, started_ms=clock
                )
            timed.append(step)
            clock += step.wall_ms
        result.append(EpochTiming(index, clock + 0.5, timed, {}, complete=True, stretches=stretches))
    return result


def probed_report() -> Report:
    """A mirrored two-replica run with probe steps, unprofiled stretches and a scaling against one
    replica (three steady epochs a side): a report holding every kind of interval."""
    report = report_from_epochs("cpu", probed_epochs())
    run = report.runs[0]
    run.distribution = Distribution("mirrored", 2, ["/CPU:0", "/CPU:1"], 32)
    run.scaling = scaling_efficiency([6000.0, 6150.0, 6080.0], [3300.0, 3350.0, 3310.0], 2, 9.4)
    report.config = dataclasses.replace(report.config, strategy="mirrored")
    return report
