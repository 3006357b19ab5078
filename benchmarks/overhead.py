"""What does profiling cost? Profiled and unprofiled epochs of the same model, alternating in one process.

    .venv/bin/python benchmarks/overhead.py cifar10 --pairs 4

Both kinds of epoch run the same fused train step on the same tf.data pipeline, settle garbage
first and are fenced at both ends; the profiled one also times every step, fences after every step
runs 1 in 50 steps as probe steps and 10 % in unprofiled stretches. Epoch 1 of each kind is warm-up and is not
counted. Prints a Markdown
table for docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="cifar10")
    parser.add_argument(
        "--pairs", type=int, default=6, help="measured profiled/unprofiled pairs after warm-up"
    )
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--data", default="auto")
    args = parser.parse_args()

    import keras

    from tfprof_m1.analysis.attribution import attribute_epochs
    from tfprof_m1.collection.fence import detect_fence_kind, make_fence
    from tfprof_m1.collection.garbage import GarbageSettler
    from tfprof_m1.collection.loop import Sampling, run_profiled_loop, run_unprofiled_loop
    from tfprof_m1.collection.profiler import PhaseProfiler
    from tfprof_m1.collection.steps import TrainSteps
    from tfprof_m1.workloads.datasets import load_train_data
    from tfprof_m1.workloads.models import build_model, get_spec
    from tfprof_m1.workloads.pipeline import make_dataset, steps_per_epoch

    spec = get_spec(args.model)
    data = load_train_data(spec, args.data, download=False)
    dataset = make_dataset(data, args.batch_size, seed=0, steps=args.steps)
    steps = steps_per_epoch(data.examples, args.batch_size, args.steps)
    train_steps = TrainSteps(
        build_model(spec, seed=0),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        keras.optimizers.Adam(),
        dataset.element_spec,
    )
    fence = make_fence(detect_fence_kind(), lambda: train_steps.variables[-1])
    profiler = PhaseProfiler(fence=fence)
    sampling = Sampling()

    def unprofiled_ms() -> float:
        with GarbageSettler() as garbage:  # the same rule as the profiled loop: collect and freeze, untimed
            garbage.settle()
            fence()
            start = time.perf_counter()
            run_unprofiled_loop(train_steps, dataset, fence)
            return (time.perf_counter() - start) * 1000.0

    def profiled_ms() -> float:
        run_profiled_loop(train_steps, dataset, 1, steps, profiler, sampling)
        return profiler.epochs[-1].wall_ms

    print(
        f"{spec.name}: {data.source} data, {steps} steps of {args.batch_size}, fence {fence.name}",
        file=sys.stderr,
    )
    unprofiled_ms(), profiled_ms()  # warm-up: tracing, autotuning
    unprofiled, profiled = [], []
    for pair in range(args.pairs):
        order = (unprofiled_ms, profiled_ms) if pair % 2 == 0 else (profiled_ms, unprofiled_ms)
        for run in order:
            (unprofiled if run is unprofiled_ms else profiled).append(run())
        print(
            f"pair {pair + 1}/{args.pairs}: unprofiled {unprofiled[-1]:.0f} "
            f"ms, profiled {profiled[-1]:.0f} ms",
            file=sys.stderr,
        )

    breakdowns = attribute_epochs(profiler.epochs)[1:]
    other_share = [b.totals_ms["other"] / b.wall_ms for b in breakdowns]
    probe_cost = [b.totals_ms.get("profiling", 0.0) / b.wall_ms for b in breakdowns]
    ratio = statistics.median(profiled) / statistics.median(unprofiled)
    print("| figure | value |")
    print("|---|---|")
    print(
        f"| unprofiled fused epoch, median of {len(unprofiled)} (ms) "
        f"| {statistics.median(unprofiled):,.0f} (range {min(unprofiled):,.0f}–{max(unprofiled):,.0f}) |"
    )
    print(
        f"| profiled epoch, median of {len(profiled)} (ms) | {statistics.median(profiled):,.0f} "
        f"(range {min(profiled):,.0f}–{max(profiled):,.0f}) |"
    )
    print(f"| profiled / unprofiled | {ratio:.3f} ({(ratio - 1) * 100:+.1f} %) |")
    print(f"| per-pair ratios | {', '.join(f'{p / u:.3f}' for p, u in zip(profiled, unprofiled))} |")
    print(f"| `other` share of the profiled epoch | {', '.join(f'{s * 100:.2f} %' for s in other_share)} |")
    print(
        "| probe steps' extra calls (`profiling`), share of epoch | "
        f"{', '.join(f'{s * 100:.2f} %' for s in probe_cost)} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
