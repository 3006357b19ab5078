"""Figures for research code: the GRU and GAN examples' profiling cost and ``other``, with an
independent cross-check of the GAN's custom-phase attribution.

    .venv/bin/python benchmarks/research_figures.py gru --steps 300 --epochs 3
    .venv/bin/python benchmarks/research_figures.py gan --steps 300 --epochs 3 --reps 300 [--async-executor]

``gru`` runs examples/own_loop.py's model in the built-in loop and prints the report's profiling
cost, ``other`` and parts. ``gan`` runs examples/gan_step.py's loop (fused steps, split steps with
nested custom phases, unprofiled stretches), then cross-checks the attribution subtractively, in the
same process and independent of the profiler: the full fused GAN step against a fused step that does
only the generator's half, interleaved ``--reps`` times, each fenced by a host read. The 20th
percentile of each stands for its undisturbed time; ``1 - generator_only / full`` is the
discriminator's share of the step, to set beside the report's summed ``discriminator/*`` shares of
compute (from the split steps' proportions). Prints Markdown for docs/performance.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
PERCENTILE = 0.2


def _example(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cost_rows(report) -> list[str]:
    run = report.runs[0]
    steady = run.steady
    other = next(phase for phase in steady.phases if phase.phase == "other")
    cost = steady.profiling_cost
    rows = [
        f"| epoch, steady mean | {steady.epoch_mean_ms / 1000:.2f} s (IQR {steady.epoch_iqr_ms:.1f} ms) |",
        f"| `other` | {other.share:.1%} of the epoch ({other.total_ms:.1f} ms) |",
    ]
    if cost is not None:
        rows.append(
            f"| profiling cost (profiled / unprofiled per step) | {cost.ratio.point:.3f}× "
            f"[95 % CI {cost.ratio.low:.3f}–{cost.ratio.high:.3f}], "
            f"{cost.blocks} blocks, {cost.stretches} stretches |"
        )
    return rows


def gru(args: argparse.Namespace):
    from tfprof_m1 import (
        PhaseProfiler,
        Sampling,
        TrainSteps,
        build_report,
        detect_fence_kind,
        make_fence,
        run_profiled_loop,
    )

    example = _example("own_loop")
    import keras

    dataset = example.gru_dataset(args.steps)
    steps = TrainSteps(
        example.gru_model(),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        keras.optimizers.Adam(),
        dataset.element_spec,
    )
    profiler = PhaseProfiler(fence=make_fence(detect_fence_kind(), lambda: steps.variables[-1]))
    results = run_profiled_loop(steps, dataset, args.epochs, args.steps, profiler, Sampling(every=args.every))
    report = build_report(results, model="gru")
    rows = _cost_rows(report)
    for part in report.runs[0].steady.parts:
        rows.append(
            f"| {part.part} | {part.ms:.3f} ms/step, {part.share.point:.1%} of "
            f"compute [{part.share.low:.1%}–{part.share.high:.1%}] |"
        )
    return report, rows


def gan(args: argparse.Namespace):
    import numpy as np
    import tensorflow as tf

    example = _example("gan_step")
    sys.argv = [
        "gan_step.py",
        "--steps",
        str(args.steps),
        "--epochs",
        str(args.epochs),
        "--split-every",
        str(args.every),
    ]
    # the example's main() builds and prints the report; run its loop through the same code path
    from tfprof_m1 import build_report

    captured = {}
    original = build_report

    def keep(*a, **k):
        captured["report"] = original(*a, **k)
        return captured["report"]

    example.build_report = keep
    example.render_text = lambda report: ""
    example.main()
    report = captured["report"]
    run = report.runs[0]
    proportions = run.epochs[-1].proportions or {}
    attributed = sum(share for name, share in proportions.items() if name.startswith("discriminator"))

    # Independent: the full fused step against each half fused alone and an empty call, interleaved,
    # each fenced by a host read. If the halves run one after the other, full = d_only + g_only - empty;
    # when the graph runs them partly in parallel (inter-op threads), the D share lies between the
    # marginal estimate (what adding D to G costs) and the standalone one (D alone).
    model = example.Gan()

    @tf.function
    def generator_only(real, noise):
        with tf.GradientTape() as tape:
            g_loss = model._g_forward(noise)
        model._g_apply(tape.gradient(g_loss, model.generator.trainable_variables))
        return g_loss

    @tf.function
    def discriminator_only(real, noise):
        with tf.GradientTape() as tape:
            d_loss = model._d_forward(real, noise)
        model._d_apply(model._clip(tape.gradient(d_loss, model.discriminator.trainable_variables)))
        return d_loss

    @tf.function
    def empty(real, noise):
        return tf.zeros([1])

    real = tf.constant(np.random.default_rng(1).uniform(-1, 1, size=(64, 784)).astype("float32"))
    noise = tf.random.normal([64, example.NOISE])
    variants = {
        "full": model.fused,
        "generator_only": generator_only,
        "discriminator_only": discriminator_only,
        "empty": empty,
    }
    for fn in variants.values():
        fn(real, noise).numpy()  # trace
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for rep in range(args.reps):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            start = time.perf_counter()
            variants[name](real, noise).numpy()
            times[name].append((time.perf_counter() - start) * 1000)
    low = {name: sorted(values)[int(PERCENTILE * len(values))] for name, values in times.items()}
    marginal = 1.0 - (low["generator_only"] - low["empty"]) / (low["full"] - low["empty"])
    standalone = (low["discriminator_only"] - low["empty"]) / (low["full"] - low["empty"])
    additivity = (low["discriminator_only"] + low["generator_only"] - low["empty"]) / low["full"]
    rows = _cost_rows(report)
    split = [phase for phase in run.steady.phases if phase.phase in run.custom_phases]
    rows.append(
        "| own phases (share of epoch) | " + ", ".join(f"{p.phase} {p.share:.1%}" for p in split) + " |"
    )
    rows.append(f"| discriminator share of compute: report (split-step proportions) | {attributed:.1%} |")
    rows.append(
        f"| fused calls, 20th percentile of {args.reps} each (ms) | full "
        f"{low['full']:.3f}, discriminator only "
        f"{low['discriminator_only']:.3f}, generator only {low['generator_only']:.3f}, "
        f"empty {low['empty']:.3f} |"
    )
    rows.append(
        f"| halves add up? (d_only + g_only − empty) / full | {additivity:.3f} "
        "(1: sequential; above 1: they overlap in the fused step) |"
    )
    rows.append(
        "| discriminator share, subtractive: marginal (1 − g_only / "
        "full) … standalone (d_only / full), call excluded | "
        f"{marginal:.1%} … {standalone:.1%} |"
    )
    return report, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("example", choices=("gru", "gan"))
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument(
        "--every", type=int, default=20, help="one probe (gru) or split (gan) step in this many"
    )
    parser.add_argument("--reps", type=int, default=300, help="gan: subtractive cross-check rounds")
    parser.add_argument(
        "--inter-op", type=int, default=0, help="TensorFlow inter-op threads (1: ops run one at a time)"
    )
    parser.add_argument(
        "--async-executor", action="store_true", help="TensorFlow's eager executor asynchronous (GPU-style)"
    )
    args = parser.parse_args()
    if args.async_executor:
        from tfprof_m1.collection.environment import set_async_executor

        set_async_executor(True)
    if args.inter_op:
        import tensorflow as tf

        tf.config.threading.set_inter_op_parallelism_threads(args.inter_op)
    report, rows = (gru if args.example == "gru" else gan)(args)
    print(f"| {args.example}: {args.epochs} epochs × {args.steps} steps | value |")
    print("|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
