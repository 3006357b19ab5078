"""What does profiling cost? Profiled and unprofiled epochs of the same model, alternating in one process.

    .venv/bin/python benchmarks/overhead.py cifar10 --pairs 4 --steps 400

Both kinds of epoch run the same fused train step on the same tf.data pipeline, settle garbage
first and are fenced at both ends; the profiled one also times every step's input and call, runs
most fused steps in blocks (one fence a block) and the step before each probe step fenced, and
plans probe steps, fences and 10 % of the steps in unprofiled stretches by the default sampling (a
budget of 3 % of the epoch for everything it adds).
``--fenced-share 1`` fences every fused step (the profiler before blocks), for comparison;
``--async-executor`` runs TensorFlow's asynchronous executor (calls return before their work, as on
a GPU). A third kind, the end-to-end cross-check, is a plain loop written here without
any of the profiler's code (its own ``tf.function`` step with a GradientTape on the same model, data
and optimizer; one read of the loss at the end); the three kinds alternate. Epoch 1 of each kind is
warm-up and is not counted. The profiling cost the profiled epochs' report states about itself
(``steady.profiling_cost``) is printed beside the ratio to the plain loop. ``--blocks-only``
adds a fourth kind, profiled with every step a block step (no probe step, no stretch): the whole
cost parted into the per-step timing (blocks only / unprofiled) and what the sampling adds
(profiled / blocks only). Ratios are given as the geometric mean of the pairs with a 95 %
bootstrap interval: on a shared host epochs of one kind vary by ±20 %, so a few per cent needs
a hundred pairs or so (``--pairs 120`` at 60 steps takes about two minutes). Prints a Markdown table
for docs/performance.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _paired_ratio(profiled: list[float], reference: list[float]) -> str:
    """The geometric mean of the pairs' ratios with a 95 % bootstrap interval over the pairs (the
    project's seeded engine): epochs of one kind vary by ±20 % on a shared host, so a cost of a few
    per cent needs many pairs, and the interval says whether there were enough."""
    import numpy as np

    from tfprof_m1.analysis.bootstrap import generator, percentile_interval, resample

    logs = np.log(np.asarray(profiled) / np.asarray(reference))
    draws = np.exp(logs[resample(generator(), len(logs))].mean(axis=1))
    interval = percentile_interval(float(np.exp(logs.mean())), draws)
    return f"{interval.point:.3f} [{interval.low:.3f}–{interval.high:.3f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="cifar10")
    parser.add_argument(
        "--pairs", type=int, default=6, help="measured profiled/unprofiled pairs after warm-up"
    )
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--data", default="auto")
    parser.add_argument("--async-executor", action="store_true", help="TensorFlow's asynchronous executor")
    parser.add_argument(
        "--fenced-share",
        type=float,
        default=None,
        help="share of fused steps fenced one by one (default: the step before each probe step)",
    )
    parser.add_argument(
        "--blocks-only",
        action="store_true",
        help="a fourth kind of epoch: profiled, every step a block step (no probe step, no stretch), "
        "which parts the whole cost into the per-step timing and what the sampling adds",
    )
    args = parser.parse_args()
    from tfprof_m1.collection.environment import set_async_executor

    set_async_executor(args.async_executor)  # before any TensorFlow work

    import keras
    import tensorflow as tf

    from tfprof_m1.analysis.assemble import build_report
    from tfprof_m1.analysis.attribution import attribute_epochs
    from tfprof_m1.collection.environment import collect_environment, default_device
    from tfprof_m1.collection.fence import detect_fence_kind, make_fence
    from tfprof_m1.collection.garbage import GarbageSettler
    from tfprof_m1.collection.loop import DEFAULT_SAMPLING, Sampling, run_profiled_loop, run_unprofiled_loop
    from tfprof_m1.collection.profiler import PhaseProfiler
    from tfprof_m1.collection.steps import TrainSteps
    from tfprof_m1.workloads.datasets import load_train_data
    from tfprof_m1.workloads.models import build_model, get_spec
    from tfprof_m1.workloads.pipeline import make_dataset, steps_per_epoch

    spec = get_spec(args.model)
    data = load_train_data(spec, args.data, download=False)
    dataset = make_dataset(data, args.batch_size, seed=0, steps=args.steps)
    steps = steps_per_epoch(data.examples, args.batch_size, args.steps)
    model, loss_fn, optimizer = (
        build_model(spec, seed=0),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        keras.optimizers.Adam(),
    )
    train_steps = TrainSteps(model, loss_fn, optimizer, dataset.element_spec)
    fence = make_fence(detect_fence_kind(), lambda: train_steps.variables[-1])
    profiler = PhaseProfiler(fence=fence)
    sampling = (
        DEFAULT_SAMPLING
        if args.fenced_share is None
        else dataclasses.replace(DEFAULT_SAMPLING, fenced_share=args.fenced_share)
    )

    @tf.function
    def plain_step(images, labels):  # written without the profiler: the end-to-end reference
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(images, training=True))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    def plain_ms() -> float:
        import gc

        gc.collect()
        start = time.perf_counter()
        loss = None
        for images, labels in dataset:
            loss = plain_step(images, labels)
        float(loss)  # the device has finished the epoch
        return (time.perf_counter() - start) * 1000.0

    def unprofiled_ms() -> float:
        with GarbageSettler() as garbage:  # the same rule as the profiled loop: collect and freeze, untimed
            garbage.settle()
            fence()
            start = time.perf_counter()
            run_unprofiled_loop(train_steps, dataset, fence)
            return (time.perf_counter() - start) * 1000.0

    print(
        f"{spec.name}: {data.source} data, {steps} steps of {args.batch_size}, fence {fence.name}, "
        f"{'asynchronous' if args.async_executor else 'default'} executor, "
        + (
            "the step before each probe step fenced"
            if sampling.fenced_share is None
            else f"{sampling.fenced_share:.0%} of fused steps fenced"
        ),
        file=sys.stderr,
    )
    unprofiled, profiled, plain, blocks = [], [], [], []
    blocks_profiler = PhaseProfiler(fence=fence)
    blocks_only = Sampling(every=10**9, min_samples=0, reference_share=0.0)

    def blocks_ms() -> float:
        """One epoch of the profiled loop with block steps only (its own run: nothing to plan)."""
        run_profiled_loop(train_steps, dataset, 1, steps, blocks_profiler, blocks_only)
        return blocks_profiler.epochs[-1].wall_ms

    def between(result: object) -> None:
        """After each profiled epoch, the other two kinds (order alternating): the profiled epochs
        are one run of the loop, warm-up first, probes pooled across its epochs as in any run."""
        pair = len(profiler.epochs) - 1
        order = (plain_ms, unprofiled_ms) if pair % 2 == 0 else (unprofiled_ms, plain_ms)
        if args.blocks_only:
            order = (*order, blocks_ms) if pair % 2 == 0 else (blocks_ms, *order)
        if pair == 0:  # warm-up of each kind: tracing, autotuning
            for run in order:
                run()
            return
        profiled.append(profiler.epochs[-1].wall_ms)
        for run in order:
            {plain_ms: plain, unprofiled_ms: unprofiled, blocks_ms: blocks}[run].append(run())
        print(
            f"pair {pair}/{args.pairs}: unprofiled {unprofiled[-1]:.0f} "
            f"ms, profiled {profiled[-1]:.0f} ms, plain loop {plain[-1]:.0f} ms",
            file=sys.stderr,
        )

    run_profiled_loop(train_steps, dataset, args.pairs + 1, steps, profiler, sampling, on_epoch_end=between)

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
    to_plain = [p / q for p, q in zip(profiled, plain)]
    print(
        f"| profiled / plain loop (end to end), median of {len(to_plain)} "
        f"| {statistics.median(to_plain):.3f} (range {min(to_plain):.3f}–{max(to_plain):.3f}) |"
    )
    for name, reference in (("unprofiled fused", unprofiled), ("plain loop", plain)):
        print(f"| profiled / {name}, geometric mean of pairs [95 %] | {_paired_ratio(profiled, reference)} |")
    if blocks:
        for name, over, under in (
            ("blocks only / unprofiled fused", blocks, unprofiled),
            ("profiled / blocks only", profiled, blocks),
        ):
            print(f"| {name}, geometric mean of pairs [95 %] | {_paired_ratio(over, under)} |")
    environment = collect_environment(default_device(), peak=False)
    report = build_report(profiler.epochs, model=spec.name, environment=environment)  # steady: less warm-up
    cost = report.runs[0].steady.profiling_cost
    stated = (
        "none" if cost is None else f"{cost.ratio.point:.3f} [{cost.ratio.low:.3f}–{cost.ratio.high:.3f}]"
    )
    print(f"| profiling cost the report states (steady epochs) | {stated} |")
    print(f"| `other` share of the profiled epoch | {', '.join(f'{s * 100:.2f} %' for s in other_share)} |")
    print(
        "| probe steps' extra calls (`profiling`), share of epoch | "
        f"{', '.join(f'{s * 100:.2f} %' for s in probe_cost)} |"
    )
    probes = [epoch.steps.kinds().count("probe") for epoch in profiler.epochs]
    print(f"| probe steps per epoch (warm-up first) | {', '.join(map(str, probes))} |")
    stretches = [sum(s.steps for s in epoch.stretches) for epoch in profiler.epochs]
    print(f"| unprofiled steps per epoch (warm-up first) | {', '.join(map(str, stretches))} |")
    counts = [(k.count("fused"), k.count("block")) for k in (e.steps.kinds() for e in profiler.epochs)]
    print(
        "| fused steps fenced / in blocks, per epoch (warm-up first) | "
        f"{', '.join(f'{fenced}/{blocked}' for fenced, blocked in counts)} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
