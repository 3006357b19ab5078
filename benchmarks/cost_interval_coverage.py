"""How often the profiling cost's 95 % interval holds the true ratio, by the number of stretches.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/cost_interval_coverage.py [--runs 1000]

Known answer: profiled units and unprofiled stretches of 20 steps are drawn with the same 6 % spread
of a unit's per-step time (3 ms a step), every third of 9 profiled units holding a probe step's
+12 %, so the true profiled/unprofiled ratio is 1.04. ``estimate_cost`` (the report's own) is run
on each draw; printed per stretch count: the share of runs whose interval holds 1.04, and the
interval's median width. Under ``FEW_STRETCHES`` the reference's noise comes from the profiled
units' spread; from there on, from resampling the stretches.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()

    from tfprof_m1.analysis.estimate import estimate_cost

    unit_sd, probe_extra, step_ms = 0.06, 0.12, 3.0
    true_ratio = 1.0 + probe_extra / 3
    print("| stretches | interval holds the true ratio | median width |")
    print("|---|---|---|")
    for count in (1, 2, 4, 9, 10, 20):
        rng = np.random.default_rng(11)
        held, widths = 0, []
        for _ in range(args.runs):
            extras = [probe_extra if k % 3 == 0 else 0.0 for k in range(9)]
            units = [(20, 20 * step_ms * (1 + e) * (1 + unit_sd * rng.standard_normal())) for e in extras]
            stretches = [(20, 20 * step_ms * (1 + unit_sd * rng.standard_normal())) for _ in range(count)]
            cost = estimate_cost(units, stretches, lambda ratio: 0.0)
            assert cost is not None
            held += cost.ratio.low <= true_ratio <= cost.ratio.high
            widths.append(cost.ratio.high - cost.ratio.low)
        print(f"| {count} | {held / args.runs:.1%} | {float(np.median(widths)):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
