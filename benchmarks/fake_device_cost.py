"""The profiling cost the report states, on the fake in-order device (exact times, no noise).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/fake_device_cost.py

The built-in loop with the default sampling (the budget) runs 8 epochs on ``tests/fake_device.py``'s
device (a call spends its host time, then queues its device time; the device runs queued work in
order) for the three shapes of step of ``tests/test_fake_device.py``, with every fused step fenced
(``fenced_share=1``, the loop before blocks), with 2 % fenced (``fenced_share=0.02``, blocks, before
the budget counted cuts) and with the default sampling, and prints the report's
profiling cost (profiled over unprofiled per-step time, 95 % bootstrap interval) as Markdown, beside
the true cost: the profiled run's mean steady epoch over a plain loop's (``run_unprofiled_loop``,
the same fake device, data and steps, one fence an epoch). Python's own time is not on the fake
clock, so what is left is what the design costs: probe steps, fences, and how the estimate reads
them. ``--parts`` also prints, at 400 steps, the true cost with each piece of profiling turned off;
``--lengths`` the default's true cost at 50 to 1,563 steps an epoch, over 4 and 8 epochs.
"""

from __future__ import annotations

import dataclasses
import sys
from statistics import mean

from tests.fake_device import FakeClock, FakeDevice, FakeFence, FakeTrainSteps, batches, plain_epoch_ms
from tests.test_fake_device import CASES, model
from tfprof_m1.analysis.attribution import attribute_epochs
from tfprof_m1.analysis.figures import loop_summary
from tfprof_m1.collection.loop import DEFAULT_SAMPLING, run_profiled_loop
from tfprof_m1.collection.profiler import PhaseProfiler

EPOCHS = 8


def stated_and_true(
    host: float, device: float, steps: int, epochs: int = EPOCHS, **sampling: float
) -> tuple[str, float]:
    """The cost the report states (point [95 % interval]) and the true cost, on the fake device."""
    clock = FakeClock()
    fake = FakeDevice(clock)
    profiler = PhaseProfiler(clock=clock, fence=FakeFence(fake, 0.05), annotate=False)
    chosen = dataclasses.replace(DEFAULT_SAMPLING, **sampling)
    data = batches(clock, steps * epochs, input_ms=0.1)
    run_profiled_loop(FakeTrainSteps(fake, model(host, device)), data, epochs, steps, profiler, chosen)
    summary = loop_summary(attribute_epochs(profiler.epochs), device_kind="gpu", executor_async=True)
    cost = summary.profiling_cost
    stated = f"{cost.ratio.point:.3f} [{cost.ratio.low:.3f}–{cost.ratio.high:.3f}]" if cost else "—"
    profiled_ms = mean(epoch.wall_ms for epoch in profiler.epochs[1:])
    return stated, profiled_ms / plain_epoch_ms(model(host, device), steps, epochs, 0.1, 0.05)


def _shape(case: str, host: float, device: float) -> str:
    return f"{case} (host {0.1 + 0.5 + host:.1f} ms, device {device:.1f} ms)"


def main() -> None:
    print(
        "| steps an epoch | step shape | every fused step fenced: stated | true "
        "| blocks, 2 % fenced: stated | true | the default: stated | true |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for steps in (60, 400):
        for case, (host, device) in CASES.items():
            row = [str(steps), _shape(case, host, device)]
            for sampling in ({"fenced_share": 1.0}, {"fenced_share": 0.02}, {}):
                stated, true = stated_and_true(host, device, steps, **sampling)
                row += [stated, f"{true:.3f}"]
            print("| " + " | ".join(row) + " |")
    if "--parts" in sys.argv[1:]:
        pieces = {
            "all (the default)": {},
            "no probe steps (budget 1e-6)": {"budget": 1e-6},
            "no unprofiled stretches": {"reference_share": 0.0},
            "no fused step fenced alone": {"fenced_share": 0.0},
            "none of the three": {"budget": 1e-6, "reference_share": 0.0, "fenced_share": 0.0},
        }
        print()
        print("| 400 steps an epoch | " + " | ".join(CASES) + " |")
        print("|---|" + "---|" * len(CASES))
        for name, sampling in pieces.items():
            trues = [stated_and_true(host, device, 400, **sampling)[1] for host, device in CASES.values()]
            print(f"| {name} | " + " | ".join(f"{value:.3f}" for value in trues) + " |")

    if "--lengths" in sys.argv[1:]:
        print()
        print("| true cost, the default | " + " | ".join(f"{case}, 4 epochs | 8" for case in CASES) + " |")
        print("|---|" + "---|" * 2 * len(CASES))
        for steps in (50, 60, 100, 400, 1563):
            trues = [
                stated_and_true(host, device, steps, epochs)[1]
                for host, device in CASES.values()
                for epochs in (4, 8)
            ]
            print(f"| {steps} steps an epoch | " + " | ".join(f"{value:.3f}" for value in trues) + " |")


if __name__ == "__main__":
    main()
