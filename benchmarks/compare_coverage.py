"""How often compare's 95 % interval of the epoch-time ratio holds the true ratio (its coverage).

    .venv/bin/python benchmarks/compare_coverage.py --trials 200

Draws pairs of reports with a known true ratio (reference steps ~ N(10, 3) ms, other ~ N(11.5,
3.45) ms, 200 steps per epoch, 0.2 ms input; run-to-run offsets of the given size, the same for both
sides' distribution but drawn independently), runs the real ``compare`` on each, and counts how
often the printed interval contains the truth, for each design (runs × epochs per side). Printed
both with the small-sample widening compare uses and without it (plain percentile bootstrap), as
Markdown. A well-calibrated 95 % interval covers about 95 % of trials.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tfprof_m1.analysis.compare_stats as compare_stats  # noqa: E402
from tests.report_factory import report_from_epochs, timed_epochs  # noqa: E402
from tfprof_m1.analysis.compare import compare  # noqa: E402

REFERENCE_MS, OTHER_MS = 10.0, 11.5


def _side(
    label: str, mean_ms: float, runs: int, epochs: int, run_sd: float, rng: np.random.Generator
) -> list:
    reports = []
    for _ in range(runs):
        level = mean_ms * (1 + rng.normal(0, run_sd))
        seed = int(rng.integers(1 << 31))
        report = report_from_epochs(
            "side",
            timed_epochs(
                lambda r, n: np.clip(r.normal(level, 0.3 * level, n), 0.01, None),
                epochs=epochs + 1,
                seed=seed,
            ),
        )
        report.environment.device_label = label
        reports.append(report)
    return reports


def coverage(runs: int, epochs: int, run_sd: float, trials: int, widen: bool) -> float:
    rng = np.random.default_rng(runs * 100 + epochs)
    truth = (200 * (OTHER_MS + 0.2) + 0.5) / (200 * (REFERENCE_MS + 0.2) + 0.5)
    original = compare_stats.small_sample_factor
    if not widen:
        compare_stats.small_sample_factor = lambda units: 1.0
    try:
        hits = 0
        for _ in range(trials):
            reports = _side("ref", REFERENCE_MS, runs, epochs, run_sd, rng) + _side(
                "other", OTHER_MS, runs, epochs, run_sd, rng
            )
            (comparison,) = compare(reports)
            hits += comparison.differences[0].epoch_ratio.contains(truth)
    finally:
        compare_stats.small_sample_factor = original
    return hits / trials


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    args = parser.parse_args()
    print(
        "| runs × steady epochs per side | run-to-run sd | coverage, "
        "widened (compare) | coverage, plain percentile |"
    )
    print("|---|---|---|---|")
    for runs, epochs, run_sd in ((1, 5, 0.0), (1, 9, 0.0), (3, 5, 0.03), (5, 5, 0.03)):
        widened = coverage(runs, epochs, run_sd, args.trials, widen=True)
        plain = coverage(runs, epochs, run_sd, args.trials, widen=False)
        print(f"| {runs} × {epochs} | {run_sd * 100:.0f} % | {widened * 100:.1f} % | {plain * 100:.1f} % |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
