"""What a long run costs the profiler: memory, report size and analysis time at two run lengths.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/scale.py --steps 2000 20000 --epochs 3 [--repeats 7]

A tiny model (one Dense layer on 16 features, batch 32, synthetic data) trains through
``run_profiled_loop`` with the default sampling, for ``--epochs`` epochs of each ``--steps``. For each
length it measures, with tracemalloc running during the loop, what the profiler's own modules
(``tfprof_m1/collection/``) still hold after the run; the saved report's size; and, once both
lengths have run, the CPU time of ``build_report`` and of ``compare`` of two saved reports of each
length (this thread's CPU time), the two lengths taking turns (``--repeats`` rounds, the best of
each: a spell of load on a shared machine then slows both lengths alike, not one of them), and
then the CPU time spent inside their bootstraps alone (the same rounds, the bootstrap functions
wrapped where their callers look them up).
Per-step figures are the slope between the two lengths (what one more step costs), so fixed costs
(the model, TensorFlow) cancel. Prints a Markdown table for docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: Only allocations made by these files count as the profiler's memory.
PROFILER_FILES = "*tfprof_m1/collection/*"


def _best(calls, repeats: int, seconds) -> list[float]:
    """The least ``seconds(call)`` of each of ``calls`` over ``repeats`` rounds, the calls taking
    turns (a spell of load on a shared machine then slows every call alike)."""
    best = [float("inf")] * len(calls)
    for _ in range(repeats):
        for index, call in enumerate(calls):
            best[index] = min(best[index], seconds(call))
    return best


def _cpu_seconds(call) -> float:
    """The calling thread's CPU time of ``call()``: TensorFlow's own threads (the finished runs'
    input pipelines, its runtime) keep running in this process and would be counted by the
    process's CPU time, while ``build_report`` and ``compare`` run on this thread alone (numpy
    without threads)."""
    start = time.thread_time()
    call()
    return time.thread_time() - start


class _Bootstraps:
    """The CPU time spent inside the bootstraps while it is installed: ``build_report``'s two
    estimates (the parts' shares, the profiling cost) and ``compare``'s draws (of the custom loop's
    runs, epochs and blocks, and of fit's epochs), each wrapped where its caller looks it up. The
    issue's goal for "statistics whose cost does not grow with the raw values" is about these."""

    def __init__(self) -> None:
        from tfprof_m1.analysis import compare, figures

        self.seconds = 0.0
        self._places = [
            (figures, "estimate_parts"),
            (figures, "estimate_cost"),
            (compare, "group_draws"),
            (compare, "epoch_time_draws"),
        ]
        for module, name in self._places:
            setattr(module, name, self._timed(getattr(module, name)))

    def _timed(self, function):
        def timed(*args, **kwargs):
            start = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds += time.thread_time() - start

        return timed

    def seconds_in(self, call) -> float:
        """The CPU time ``call()`` spent inside the bootstraps."""
        self.seconds = 0.0
        call()
        return self.seconds


def _row(*cells: str) -> None:
    print("| " + " | ".join(cells) + " |")


def _cost(cost) -> str:
    ratio = None if cost is None else cost.ratio
    return "none" if ratio is None else f"{ratio.point:.3f} [{ratio.low:.3f}–{ratio.high:.3f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--steps", type=int, nargs=2, default=[2000, 20000], help="steps per epoch, short and long"
    )
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=7, help="timings: the best of this many rounds")
    args = parser.parse_args()

    import dataclasses

    import keras
    import numpy as np
    import tensorflow as tf

    from tfprof_m1.analysis.assemble import build_report
    from tfprof_m1.analysis.compare import compare
    from tfprof_m1.collection.environment import collect_environment, default_device
    from tfprof_m1.collection.fence import detect_fence_kind, make_fence
    from tfprof_m1.collection.loop import DEFAULT_SAMPLING, run_profiled_loop
    from tfprof_m1.collection.profiler import PhaseProfiler
    from tfprof_m1.collection.steps import TrainSteps

    environment = collect_environment(default_device(), peak=False)
    rng = np.random.default_rng(0)
    features = rng.normal(size=(1024, 16)).astype("float32")
    labels = rng.integers(0, 4, size=1024).astype("int32")
    dataset = tf.data.Dataset.from_tensor_slices((features, labels)).batch(32, drop_remainder=True).repeat()
    out = Path(tempfile.mkdtemp(prefix="tfprof_scale_"))
    figures = {}
    builds, compares = [], []
    for steps in args.steps:
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(4)])
        train_steps = TrainSteps(
            model,
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            keras.optimizers.SGD(0.01),
            dataset.element_spec,
        )
        profiler = PhaseProfiler(fence=make_fence(detect_fence_kind(), lambda: train_steps.variables[-1]))
        tracemalloc.start()
        started = time.perf_counter()
        run_profiled_loop(train_steps, dataset, args.epochs, steps, profiler, DEFAULT_SAMPLING)
        loop_s = time.perf_counter() - started
        held = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, PROFILER_FILES)])
        tracemalloc.stop()
        memory = sum(stat.size for stat in held.statistics("filename"))
        report = build_report(profiler, model="tiny", environment=environment, batch_size=32)
        first = report.save(out / f"a{steps}.json")
        second = dataclasses.replace(report, created=report.created + "+1").save(out / f"b{steps}.json")
        builds.append(
            lambda p=profiler: build_report(p, model="tiny", environment=environment, batch_size=32)
        )
        compares.append(lambda paths=(first, second): compare(list(paths)))
        total = sum(len(epoch.steps) for epoch in profiler.epochs)
        cost = report.runs[0].steady.profiling_cost
        figures[steps] = (total, memory, first.stat().st_size, loop_s, cost)
        print(
            f"{args.epochs} x {steps} steps: loop {loop_s:.1f} s, profiler {memory / 1e6:.2f} MB, "
            f"report {first.stat().st_size / 1e6:.2f} MB",
            file=sys.stderr,
        )
    t0, t1 = _best(builds, args.repeats, _cpu_seconds)
    c0, c1 = _best(compares, args.repeats, _cpu_seconds)
    bootstraps = _Bootstraps()  # installed after the plain timings: they run unwrapped
    s0, s1 = _best(builds, args.repeats, bootstraps.seconds_in)
    d0, d1 = _best(compares, args.repeats, bootstraps.seconds_in)
    print(f"build {t0:.4f} -> {t1:.4f} s, compare {c0:.4f} -> {c1:.4f} s", file=sys.stderr)
    (short_steps, long_steps) = args.steps
    (n0, m0, b0, _, k0), (n1, m1, b1, _, k1) = figures[short_steps], figures[long_steps]
    per_step = n1 - n0
    _row(
        "figure",
        f"{args.epochs} × {short_steps:,} steps",
        f"{args.epochs} × {long_steps:,} steps",
        "per step / ratio",
    )
    _row("---", "---", "---", "---")
    _row("profiled steps", f"{n0:,}", f"{n1:,}", "")
    _row(
        "profiler memory held (collection/)",
        f"{m0 / 1e6:.2f} MB",
        f"{m1 / 1e6:.2f} MB",
        f"{(m1 - m0) / per_step:.0f} B/step",
    )
    _row("report.json", f"{b0 / 1e6:.2f} MB", f"{b1 / 1e6:.2f} MB", f"{(b1 - b0) / per_step:.1f} B/step")
    _row(
        f"build_report (CPU s, best of {args.repeats})",
        f"{t0:.4f}",
        f"{t1:.4f}",
        f"{t1 / t0:.2f}× ({(t1 - t0) / per_step * 1e9:.0f} ns/step)",
    )
    _row("… its bootstraps (parts, cost)", f"{s0:.4f}", f"{s1:.4f}", f"{s1 / s0:.2f}×")
    _row(
        f"compare, two saved reports (CPU s, best of {args.repeats})",
        f"{c0:.4f}",
        f"{c1:.4f}",
        f"{c1 / c0:.2f}× ({(c1 - c0) / per_step * 1e9:.0f} ns/step)",
    )
    _row("… its bootstraps (runs, epochs, blocks)", f"{d0:.4f}", f"{d1:.4f}", f"{d1 / d0:.2f}×")
    _row("profiling cost each run states", _cost(k0), _cost(k1), "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
