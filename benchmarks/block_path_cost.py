"""The profiler's own time in a block step on a real model: outside the timed input and compute.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/block_path_cost.py [mnist] [--epochs 40] [--async-executor]

Two kinds of epoch alternate on the library's fused step and the model's synthetic data: the
profiled loop (``run_profiled_loop``) with every step a block step (no probe step, no stretch), and a
loop written here that times the same things by hand (each ``next()`` and each call, four clock
readings a step, the same ``EpochBatches``, one fence at the end). For each, per epoch, the time
outside the timed ``next()`` and calls: what the loop's own Python costs a step beyond the least
any timing loop needs. Epochs 1-2 of each kind are warm-up. Prints medians over the epochs.
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
    parser.add_argument("--async-executor", action="store_true")
    args = parser.parse_args()
    from tfprof_m1.collection.environment import set_async_executor

    set_async_executor(args.async_executor)  # before any TensorFlow work

    import numpy as np

    from tfprof_m1.analysis.attribution import attribute_epochs
    from tfprof_m1.base.phases import COMPUTE, INPUT
    from tfprof_m1.collection.epoch_data import EpochBatches
    from tfprof_m1.collection.garbage import GarbageSettler
    from tfprof_m1.collection.loop import Sampling, run_profiled_loop
    from tfprof_m1.collection.profiler import PhaseProfiler

    spec, dataset, train_steps, fence = fused_workload(args.model, args.steps, args.batch_size)
    clock = time.perf_counter
    blocks_only = Sampling(every=10**9, min_samples=0, reference_share=0.0)
    profiler = PhaseProfiler(fence=fence)
    by_hand: list[tuple[float, float]] = []

    def hand_epoch() -> None:
        with GarbageSettler() as garbage:
            garbage.settle()
            fence()
            batches = iter(EpochBatches(dataset, args.steps, args.steps).epoch())
            token, timed = None, 0.0
            start = clock()
            while True:
                input_start = clock()
                batch = next(batches, None)
                input_end = clock()
                timed += input_end - input_start
                if batch is None:
                    break
                images, labels = batch
                train_steps.examples(images)
                call_start = clock()
                token = train_steps.fused(images, labels)
                call_end = clock()
                timed += call_end - call_start
            fence(token)
            wall = clock() - start
        by_hand.append(((wall - timed) * 1000.0, wall * 1000.0))

    for epoch in range(args.epochs + 2):
        hand_epoch()
        run_profiled_loop(train_steps, dataset, 1, args.steps, profiler, blocks_only)
        print(f"epoch {epoch + 1}/{args.epochs + 2}", file=sys.stderr)
    hand = np.array(by_hand[2:])
    breakdowns = attribute_epochs(profiler.epochs)[2:]
    outside = [b.wall_ms - b.totals_ms[INPUT] - b.totals_ms[COMPUTE] for b in breakdowns]
    executor = "asynchronous" if args.async_executor else "default"
    print(f"{spec.name}, {args.steps} steps of {args.batch_size}, {executor} executor, {len(outside)} epochs")
    print()
    print("| loop | epoch (ms) | outside input and compute (ms an epoch) | the same, µs a step |")
    print("|---|---|---|---|")
    print(
        f"| timed by hand | {np.median(hand[:, 1]):.1f} | {np.median(hand[:, 0]):.2f} "
        f"| {np.median(hand[:, 0]) / args.steps * 1000:.0f} |"
    )
    walls = [b.wall_ms for b in breakdowns]
    print(
        f"| profiled, block steps only | {np.median(walls):.1f} | {np.median(outside):.2f} "
        f"| {np.median(outside) / args.steps * 1000:.0f} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
