"""What one timed phase costs the loop, with and without its tf.profiler annotation.

    .venv/bin/python benchmarks/phase_cost.py --phases 20000 --rounds 10

Times ``profiler.phase(name)`` around an empty body inside a step, with TensorFlow imported and no
profiler session running (the normal case: annotations are recorded only while a trace window is
open). Alternates ``annotate=True`` and ``annotate=False`` in rounds and prints the median cost per
phase of each, in microseconds, as Markdown. The end-to-end cross-check of everything the profiler
adds is the unprofiled stretches of every run (``profiling cost`` in the report).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def cost_us(annotate: bool, phases: int) -> float:
    from tfprof_m1 import PhaseProfiler

    profiler = PhaseProfiler(annotate=annotate)
    with profiler.epoch(), profiler.step():
        start = time.perf_counter()
        for _ in range(phases):
            with profiler.phase("compute"):
                pass
        elapsed = time.perf_counter() - start
    return elapsed / phases * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phases", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    import tensorflow  # noqa: F401  (annotations are made only when TensorFlow is imported)

    results: dict[bool, list[float]] = {True: [], False: []}
    for round_number in range(args.rounds):
        for annotate in (True, False) if round_number % 2 == 0 else (False, True):
            results[annotate].append(cost_us(annotate, args.phases))
    print("| phase() around an empty body | µs per phase, median of rounds (min–max) |")
    print("|---|---|")
    for annotate, label in ((False, "annotate=False"), (True, "annotate=True (default)")):
        values = results[annotate]
        print(f"| {label} | {statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
