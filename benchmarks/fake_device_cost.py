"""The profiling cost the report states, on the fake in-order device (exact times, no noise).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/fake_device_cost.py

The built-in loop with the default sampling (the budget) runs 8 epochs on ``tests/fake_device.py``'s
device (a call spends its host time, then queues its device time; the device runs queued work in
order) for the three shapes of step of ``tests/test_fake_device.py``, with every fused step fenced
(``fenced_share=1``, the loop before blocks) and with 2 % fenced (blocks), and prints the report's
profiling cost (profiled over unprofiled per-step time, 95 % bootstrap interval) as Markdown. Python's
own time is not on the fake clock, so what is left is what the design costs: probe steps, fences,
and how the estimate reads them.
"""

from __future__ import annotations

import dataclasses

from tests.fake_device import FakeClock, FakeDevice, FakeFence, FakeTrainSteps, batches
from tests.test_fake_device import CASES, model
from tfprof_m1.analysis.attribution import attribute_epochs
from tfprof_m1.analysis.figures import loop_summary
from tfprof_m1.collection.loop import DEFAULT_SAMPLING, run_profiled_loop
from tfprof_m1.collection.profiler import PhaseProfiler


def stated_cost(host: float, device: float, steps: int, fenced_share: float) -> str:
    clock = FakeClock()
    fake = FakeDevice(clock)
    profiler = PhaseProfiler(clock=clock, fence=FakeFence(fake, 0.05), annotate=False)
    sampling = dataclasses.replace(DEFAULT_SAMPLING, fenced_share=fenced_share)
    data = batches(clock, steps, input_ms=0.1)
    run_profiled_loop(FakeTrainSteps(fake, model(host, device)), data, 8, steps, profiler, sampling)
    summary = loop_summary(attribute_epochs(profiler.epochs), device_kind="gpu", executor_async=True)
    cost = summary.profiling_cost
    return f"{cost.ratio.point:.3f} [{cost.ratio.low:.3f}–{cost.ratio.high:.3f}]"


def main() -> None:
    print("| steps an epoch | step shape | every fused step fenced | blocks, 2 % fenced |")
    print("|---|---|---|---|")
    for steps in (60, 400):
        for case, (host, device) in CASES.items():
            before, after = (stated_cost(host, device, steps, share) for share in (1.0, 0.02))
            shape = f"{case} (host {0.1 + 0.5 + host:.1f} ms, device {device:.1f} ms)"
            print(f"| {steps} | {shape} | {before} | {after} |")


if __name__ == "__main__":
    main()
