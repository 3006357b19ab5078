"""Whether intervals from grouped units still hold a known answer, at several caps on the units.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bootstrap_cap.py [--caps 200 64 32] [--runs 300]

A long run's bootstraps resample at most ``MAX_BLOCKS`` units (``tfprof_m1/analysis/blocks.py``):
past it, consecutive blocks and stretches are summed and probe samples replaced by their groups'
medians. This checks the intervals that come out against simulated runs whose answer is known:

- **profiling cost**: units of 20 steps on a host that drifts along the run (AR(1), φ = 0.9, 3 %
  shocks, 10 % log-normal noise a unit); profiled units cost 3 % more than the unprofiled stretches
  placed among them at random, so the true ratio is 1.03 (``estimate_cost``);
- **parts' shares**: probe samples whose variants' host times are log-normal (15 %) about 0.5, 2,
  6 and 8 ms; each part's true share is its point estimate from 50,000 samples (``estimate_parts``).

For each cap and run size it prints how often the 95 % interval held the truth, and the median
width. Only the cap changes between rows (the same seeds). Pure numpy: no TensorFlow.
"""

from __future__ import annotations

import argparse

import numpy as np

import tfprof_m1.analysis.estimate as estimate
from tfprof_m1.analysis import blocks

TRUE_RATIO = 1.03
HOST_MS = {"empty_call": 0.5, "forward_only": 2.0, "forward_backward": 6.0, "full_step": 8.0}


def _units(rng: np.random.Generator, count: int) -> np.ndarray:
    """Per-step ms of ``count`` consecutive units: a drift along the run times each unit's noise."""
    drift = np.zeros(count)
    shocks = rng.normal(0.0, 0.03, count)
    for index in range(1, count):
        drift[index] = 0.9 * drift[index - 1] + shocks[index]
    return 10.0 * np.exp(drift) * rng.lognormal(0.0, 0.1, count)


def _cost_row(cap: int, block_count: int, stretch_count: int, runs: int) -> str:
    rng = np.random.default_rng(1)
    held, widths = 0, []
    for _ in range(runs):
        per_step = _units(rng, block_count + stretch_count)
        stretch = np.zeros(len(per_step), dtype=bool)
        stretch[rng.choice(len(per_step), stretch_count, replace=False)] = True
        ratio = estimate.estimate_cost(
            [(20, 20 * TRUE_RATIO * ms) for ms in per_step[~stretch]],
            [(20, 20 * ms) for ms in per_step[stretch]],
            lambda ratio: 0.0,
        ).ratio
        held += ratio.low <= TRUE_RATIO <= ratio.high
        widths.append(ratio.high - ratio.low)
    return (
        f"| cost | {cap} | {block_count:,} blocks, {stretch_count} stretches | "
        f"{held / runs:.0%} | {np.median(widths):.4f} |"
    )


def _samples(rng: np.random.Generator, count: int) -> list[dict[str, list[float]]]:
    host = {variant: ms * rng.lognormal(0.0, 0.15, count) for variant, ms in HOST_MS.items()}
    return [{variant: [host[variant][k], 0.0] for variant in HOST_MS} for k in range(count)]


def _parts_row(cap: int, count: int, runs: int, truth: dict[str, float]) -> str:
    rng = np.random.default_rng(2)
    held = dict.fromkeys(truth, 0)
    widths: dict[str, list[float]] = {part: [] for part in truth}
    for _ in range(runs):
        for part, share in estimate.estimate_parts(_samples(rng, count)).shares.items():
            held[part] += share.low <= truth[part] <= share.high
            widths[part].append(share.high - share.low)
    coverage = ", ".join(f"{part} {held[part] / runs:.0%}" for part in truth)
    width = ", ".join(f"{np.median(widths[part]):.4f}" for part in truth)
    return f"| parts' shares | {cap} | {count} samples | {coverage} | {width} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--caps", type=int, nargs="+", default=[200, blocks.MAX_BLOCKS, 32])
    parser.add_argument("--runs", type=int, default=300, help="simulated runs a row (parts: two thirds)")
    args = parser.parse_args()
    reference = estimate.estimate_parts(_samples(np.random.default_rng(0), 50000), 10)
    truth = {part: share.point for part, share in reference.shares.items()}
    print("| interval | cap | run | held the truth | median width |")
    print("|---|---|---|---|---|")
    for cap in args.caps:
        # estimate.py calls the two summaries with the module's default cap: give them this one
        estimate.summed_blocks = lambda items, most=cap: blocks.summed_blocks(items, most)
        estimate.group_medians = lambda rows, most=cap: blocks.group_medians(rows, most)
        print(_cost_row(cap, 150, 20, args.runs), flush=True)
        print(_cost_row(cap, 1800, 200, args.runs), flush=True)
        print(_parts_row(cap, 60, 2 * args.runs // 3, truth), flush=True)
        print(_parts_row(cap, 700, 2 * args.runs // 3, truth), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
