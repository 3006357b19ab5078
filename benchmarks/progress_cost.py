"""What progress inside an epoch costs (issue 22): one call of ``EpochProgress`` as a bar on a
terminal (Keras' Progbar, every 0.25 s) and as a line (every 10 s), timed over many calls, and the
share of an epoch it takes at those intervals.

    .venv/bin/python benchmarks/progress_cost.py [--calls 2000]

The loop calls progress between profiled steps, inside its ``profiling`` phase, so the report's own
profiling cost already contains it; this prints the figure alone.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _per_call_us(progress, calls: int, steps: int = 1563) -> float:
    times = []
    for call in range(calls):
        start = time.perf_counter()
        progress(0, 1 + call % (steps - 1), steps)
        times.append((time.perf_counter() - start) * 1e6)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    from tfprof_m1.run.progress import EpochProgress

    print("| form | interval | median per call | share of the epoch at that interval |")
    print("|---|---|---|---|")
    for name, stream in (("bar (terminal)", _Terminal()), ("line (file, pipe)", io.StringIO())):
        progress = EpochProgress("cifar10", 3, stream=stream)
        _per_call_us(progress, 50)  # import and first draw apart
        us = _per_call_us(progress, args.calls)
        share = us / (progress.interval_s * 1e6)
        print(f"| {name} | {progress.interval_s:g} s | {us:.1f} µs | {share:.4%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
