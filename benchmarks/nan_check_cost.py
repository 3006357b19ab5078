"""What the per-probe-step NaN check costs: one read of the running loss sum after a fenced step.

    .venv/bin/python benchmarks/nan_check_cost.py --model cifar10 --steps 200 --rounds 5

Runs fused steps of the article model on synthetic data, each fenced (as a probe step is), and
times ``TrainSteps.loss_is_finite()`` right after the fence, alternating with an equal number of
fused steps timed the same way. Prints the medians, the check as a share of a step, and what it
costs an epoch at the default sampling (1 probe step in 50). The loop counts the check in its
``profiling`` phase, so every run's end-to-end profiling cost (unprofiled stretches) includes it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cifar10")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    import keras

    from tfprof_m1 import TrainSteps
    from tfprof_m1.collection.loop import DEFAULT_SAMPLE_EVERY
    from tfprof_m1.workloads.datasets import synthetic
    from tfprof_m1.workloads.models import build_model, get_spec
    from tfprof_m1.workloads.pipeline import make_dataset

    spec = get_spec(args.model)
    dataset = make_dataset(synthetic(spec, seed=0, examples=args.steps * 32), batch_size=32, seed=0)
    steps = TrainSteps(
        build_model(spec, seed=0),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        keras.optimizers.Adam(),
        dataset.element_spec,
    )
    batches = list(dataset)
    for images, labels in batches[:5]:  # warm-up: tracing
        steps.fused(images, labels).numpy()
        steps.loss_is_finite()
    step_us, check_us = [], []
    for _ in range(args.rounds):
        for images, labels in batches:
            started = time.perf_counter()
            steps.fused(images, labels).numpy()  # the fence: the step's work is done
            fenced = time.perf_counter()
            assert steps.loss_is_finite()
            checked = time.perf_counter()
            step_us.append((fenced - started) * 1e6)
            check_us.append((checked - fenced) * 1e6)
    step, check = statistics.median(step_us), statistics.median(check_us)
    quartiles = statistics.quantiles(check_us, n=4)
    print(
        f"| {args.model} | {len(step_us)} | {step:,.0f} | {check:.1f} "
        f"(IQR {quartiles[2] - quartiles[0]:.1f}) | "
        f"{check / step * 100:.2f} % | {check / step / DEFAULT_SAMPLE_EVERY * 100:.3f} % |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
