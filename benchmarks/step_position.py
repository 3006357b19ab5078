"""How a step's time depends on its place in the epoch: a plain loop timed step by step.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/step_position.py [mnist] [--steps 60] [--epochs 40]

The library's fused step on the model's synthetic data (the same ``tf.data`` pipeline as a run),
each epoch a fresh iterator as ``fit`` makes one, with no profiler at all: the clock is read after
each call (the default executor: a call returns when its work is done), so step i's time is its
``next()`` and its call. The first two epochs are warm-up. Prints, for each tenth of the epoch, the
median and mean step time over the epochs, and the mean over steps 1 to the end (step 0 also starts
the input pipeline): where a reference of unprofiled steps is taken matters when these differ
(``Sampling.stretch_starts`` tiles the epoch for that reason; docs/how-it-measures.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from workload import add_workload_arguments, fused_workload  # noqa: E402 - after the log level


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_workload_arguments(parser)
    args = parser.parse_args()

    import numpy as np

    from tfprof_m1.collection.garbage import GarbageSettler

    spec, dataset, train_steps, fence = fused_workload(args.model, args.steps, args.batch_size)
    rows = []
    for epoch in range(args.epochs + 2):
        with GarbageSettler() as garbage:  # as before a profiled epoch: collected, untimed
            garbage.settle()
            fence()
            stamps = [time.perf_counter()]
            token = None
            for images, labels in dataset:
                token = train_steps.fused(images, labels)
                stamps.append(time.perf_counter())
            fence(token)
        if epoch >= 2:
            rows.append(np.diff(stamps) * 1000.0)
        print(f"epoch {epoch + 1}/{args.epochs + 2}", file=sys.stderr)
    times = np.array(rows)
    steps = times.shape[1]
    print(f"{spec.name}, {steps} steps of {args.batch_size}, {len(rows)} epochs after 2 of warm-up")
    print()
    print("| steps | median ms a step | mean ms a step |")
    print("|---|---|---|")
    print(f"| 0 (starts the input pipeline) | {np.median(times[:, 0]):.2f} | {times[:, 0].mean():.2f} |")
    bounds = np.linspace(1, steps, 11).round().astype(int)
    for low, high in zip(bounds[:-1], bounds[1:]):
        if high > low:
            part = times[:, low:high]
            print(f"| {low}-{high - 1} | {np.median(part):.3f} | {part.mean():.3f} |")
    rest = times[:, 1:]
    print(f"| 1-{steps - 1} (the epoch's average step) | {np.median(rest):.3f} | {rest.mean():.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
