"""What each piece of a profiled fused step costs, against a bare ``fused(images, labels)`` call.

    .venv/bin/python benchmarks/step_cost.py --steps 300 --rounds 5
    .venv/bin/python benchmarks/step_cost.py --steps 300 --rounds 5 --async-executor

mnist (synthetic data, batch 32) on one batch held in memory, so the input pipeline is out of it.
Each variant adds one piece to the one before; they run in blocks of 20 steps, interleaved (the
order alternating), ``--steps / 20 × --rounds`` blocks each, so a busy host slows them alike. The
median per-step time of each variant, its difference from the bare call, and the median of its
block-by-block ratio to the bare block beside it are printed as Markdown. The variants:

- ``bare``: ``fused(images, labels)``, one fence at the block's end (what an unprofiled stretch runs);
- ``+ fence``: a fence on each step's token;
- ``+ profiler.call``: the call and its fence timed by ``PhaseProfiler.call`` inside
  ``profiler.step`` (clock reads, phase bookkeeping, the step's record appended to the table);
- ``+ loop``: the built-in loop's own per-step work around it (``interrupt.check``, the plan lookup,
  the examples count, the timed ``next()`` of a held batch);
- ``loop, in a block``: the same loop as the built-in loop runs most fused steps, in a block:
  ``profiler.step("block")`` and ``profiler.call(..., fence=False)``, one ``close_block()`` fence at
  the block's end (its wait shared over the block's steps).

Then the work the loop does once per epoch, each piece timed 5 times: settling garbage, timing the
idle fence, sampling memory, starting the input pipeline. A 60-step epoch of the real loop is then
profiled with cProfile (``--cprofile``) to show where its
Python time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--async-executor", action="store_true")
    parser.add_argument("--cprofile", action="store_true", help="also cProfile a 60-step epoch")
    args = parser.parse_args()

    import tensorflow as tf

    if args.async_executor:
        tf.config.experimental.set_synchronous_execution(False)

    from fence_cost_check import mnist_steps

    from tfprof_m1.base.phases import BLOCK, COMPUTE, FUSED
    from tfprof_m1.collection.fence import detect_fence_kind, make_fence
    from tfprof_m1.collection.garbage import GarbageSettler
    from tfprof_m1.collection.interrupt import InterruptGuard, deferred
    from tfprof_m1.collection.loop import DEFAULT_SAMPLING, run_profiled_loop
    from tfprof_m1.collection.memory import sample_memory
    from tfprof_m1.collection.profiler import PhaseProfiler, _idle_ms

    dataset, steps = mnist_steps(batches=60)
    images, labels = next(iter(dataset))
    fence = make_fence(detect_fence_kind(), steps.token)
    fused = steps.fused
    n = args.steps

    block = 20

    def bare() -> None:
        token = None
        for _ in range(block):
            token = fused(images, labels)
        fence(token)

    def fenced() -> None:
        for _ in range(block):
            fence(fused(images, labels))

    profiler = PhaseProfiler(fence=fence)

    def profiled() -> None:
        for _ in range(block):
            with profiler.step(FUSED, examples=32):
                profiler.call(COMPUTE, fused, images, labels)

    def looped(plan: list[str]) -> None:
        batches = profiler.timed(iter([(images, labels)] * block))
        while True:
            interrupt.check()
            kind = plan[0]
            if kind != BLOCK:
                profiler.close_block()
            batch = next(batches, None)
            if batch is None:
                break
            x, y = batch
            with profiler.step(kind, examples=steps.examples(x)):
                profiler.call(COMPUTE, fused, x, y, fence=kind != BLOCK)
        profiler.close_block()  # the block's one fence

    variants = {
        "bare": bare,
        "+ fence": fenced,
        "+ profiler.call": profiled,
        "+ loop": lambda: looped([FUSED]),
        "loop, in a block": lambda: looped([BLOCK]),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    with InterruptGuard() as interrupt, deferred(), profiler.epoch():
        for run in variants.values():  # warm-up: tracing
            run()
        for round_index in range(n // block * args.rounds):
            names = list(variants) if round_index % 2 == 0 else list(reversed(variants))
            for name in names:
                start = time.perf_counter()
                variants[name]()
                times[name].append((time.perf_counter() - start) / block * 1e6)
    executor = "asynchronous" if args.async_executor else "default (synchronous on CPU)"
    print(f"executor: {executor}; fence {fence.name}; blocks of {block} steps, {len(times['bare'])} each")
    print("| variant | per step (µs, median) | over bare (µs) | over bare, median of paired blocks |")
    print("|---|---|---|---|")
    base = statistics.median(times["bare"])
    for name, values in times.items():
        mid = statistics.median(values)
        paired = statistics.median(v / b for v, b in zip(values, times["bare"]))
        print(f"| {name} | {mid:,.0f} | {mid - base:+,.0f} | {(paired - 1) * 100:+.1f} % |")
    epoch = profiler.epochs[-1]
    waits = [step.waits_ms.get(COMPUTE, 0.0) for step in epoch.steps if step.kind == FUSED]
    print(
        f"fused steps' fence wait (their device work after the call returned), median: "
        f"{statistics.median(waits) * 1000:,.0f} µs; "
        f"the fence's own idle cost {epoch.fence_idle_ms * 1000:,.1f} µs"
    )
    no_fence = PhaseProfiler(annotate=True)
    with no_fence.epoch():
        start = time.perf_counter()
        for _ in range(n):
            with no_fence.step(FUSED, examples=32):
                no_fence.call(COMPUTE, lambda a, b: None, images, labels)
        bookkeeping = (time.perf_counter() - start) / n * 1e6
    print(f"profiler bookkeeping alone (step + call of an empty function, no fence): {bookkeeping:.1f} µs")

    print()
    print("| epoch-level piece | ms (median of 5) | range |")
    print("|---|---|---|")
    epoch_pieces = {
        "garbage settle (unfreeze, collect, freeze)": lambda: garbage.settle(),
        "a collection of what is not frozen": lambda: gc.collect(),
        "idle-fence timing (9 calls)": lambda: _idle_ms(fence, time.perf_counter),
        "memory sample": lambda: sample_memory(),
        "iterator start (iter and first next)": lambda: next(iter(dataset)),
    }
    with GarbageSettler() as garbage:
        garbage.settle()
        for name, piece in epoch_pieces.items():
            took = []
            for _ in range(5):
                start = time.perf_counter()
                piece()
                took.append((time.perf_counter() - start) * 1000.0)
            print(f"| {name} | {statistics.median(took):,.1f} | {min(took):,.1f}–{max(took):,.1f} |")

    if args.cprofile:
        profiler = PhaseProfiler(fence=fence)
        run_profiled_loop(steps, dataset, 1, 60, profiler, DEFAULT_SAMPLING)  # warm-up
        stats = cProfile.Profile()
        stats.enable()
        run_profiled_loop(steps, dataset, 3, 60, profiler, DEFAULT_SAMPLING)
        stats.disable()
        pstats.Stats(stats, stream=sys.stdout).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
