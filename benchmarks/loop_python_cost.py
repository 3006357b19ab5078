"""The profiled loop's own Python time a step: the real loop and profiler, a fake device with no work.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/loop_python_cost.py [--steps 600] [--epochs 6] [--runs 7]

``run_profiled_loop`` drives ``FakeTrainSteps`` (tests/fake_device.py) whose calls take no time, on
a list of batches, with the real clock: each epoch's wall time is then the loop's and the profiler's
own Python (the timed ``next()``, the step record, clock readings, blocks, probe steps' bookkeeping).
Printed per step (the median steady epoch of each run, the median run), for the default sampling
and for block steps only, beside a bare loop over the same batches. No TensorFlow is imported: on a
real run the same Python also competes with TensorFlow's threads for the cores.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600, help="steps an epoch")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    from tests.fake_device import Batch, FakeClock, FakeDevice, FakeFence, FakeTrainSteps, StepModel, Work
    from tfprof_m1.collection.loop import DEFAULT_SAMPLING, Sampling, run_profiled_loop
    from tfprof_m1.collection.profiler import PhaseProfiler

    device = FakeDevice(FakeClock())
    idle = Work(0.0, 0.0)
    steps = FakeTrainSteps(device, StepModel(idle, idle, idle, idle))
    batches = [(Batch(), 0)] * args.steps
    blocks_only = Sampling(every=10**9, min_samples=0, reference_share=0.0)
    shape = f"{args.runs} runs of {args.epochs} epochs × {args.steps} steps"
    print(f"| sampling ({shape}) | µs a step (median) | runs |")
    print("|---|---|---|")
    for name, sampling in (("default (budget)", DEFAULT_SAMPLING), ("block steps only", blocks_only)):
        per_run = []
        for _ in range(args.runs):
            profiler = PhaseProfiler(fence=FakeFence(device, 0.0))
            run_profiled_loop(steps, batches, args.epochs, args.steps, profiler, sampling)
            steady = [epoch.wall_ms for epoch in profiler.epochs[1:]]
            per_run.append(statistics.median(steady) / args.steps * 1000.0)
        runs = ", ".join(f"{value:.1f}" for value in per_run)
        print(f"| {name} | {statistics.median(per_run):.1f} | {runs} |")
    bare = []
    for _ in range(args.runs):
        start = time.perf_counter()
        for images, labels in batches:
            steps.fused(images, labels)
        bare.append((time.perf_counter() - start) / args.steps * 1e6)
    print(f"| a bare loop over the same batches | {statistics.median(bare):.1f} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
