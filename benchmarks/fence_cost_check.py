"""Cross-check of the fence cost a report records (``runs[].fence``).

    .venv/bin/python benchmarks/fence_cost_check.py --rounds 5             # default executor
    .venv/bin/python benchmarks/fence_cost_check.py --rounds 5 --async-executor

The report's figure comes from the profiler: 9 calls of ``fence.idle`` (a read of a ready tensor)
right after the fence that opens each epoch, median per epoch, then the median over epochs. Until
schema 6 the benchmark measured it a second way, 50 calls of the fence on the steps' own token
after one untimed call (``measure_fence_cost``), and stored that one. Here both run on the same
fence in the same process, alternated: a short profiled mnist loop (2 epochs × 20 steps), its
report's figure, then 50 token-fence calls. Prints both per round and their medians.
"""

from __future__ import annotations

import argparse
import os
import statistics

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def mnist_steps(batches: int) -> tuple:
    """mnist on synthetic data: a dataset of ``batches`` batches of 32 (seeded) and its TrainSteps."""
    import keras

    from tfprof_m1 import TrainSteps
    from tfprof_m1.workloads.datasets import synthetic
    from tfprof_m1.workloads.models import build_model, get_spec
    from tfprof_m1.workloads.pipeline import make_dataset

    spec = get_spec("mnist")
    dataset = make_dataset(synthetic(spec, seed=0, examples=batches * 32), batch_size=32, seed=0)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    steps = TrainSteps(build_model(spec, seed=0), loss, keras.optimizers.Adam(), dataset.element_spec)
    return dataset, steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--async-executor", action="store_true")
    args = parser.parse_args()

    import tensorflow as tf

    if args.async_executor:
        tf.config.experimental.set_synchronous_execution(False)

    from tfprof_m1 import PhaseProfiler, Sampling, build_report
    from tfprof_m1.collection.environment import collect_environment, default_device
    from tfprof_m1.collection.fence import detect_fence_kind, make_fence, measure_fence_cost
    from tfprof_m1.collection.loop import run_profiled_loop

    dataset, steps = mnist_steps(batches=20)
    environment = collect_environment(default_device(), peak=False)
    print(f"executor: {'asynchronous' if args.async_executor else 'default (synchronous on CPU)'}")
    print("| round | report (profiler, idle calls) ms | token fence, 50 calls ms |")
    print("|---|---|---|")
    reported, token = [], []
    for round_index in range(args.rounds):
        fence = make_fence(detect_fence_kind(), steps.token)
        profiler = PhaseProfiler(fence=fence)
        results = run_profiled_loop(steps, dataset, 2, 20, profiler, Sampling(every=5, min_samples=1))
        run = build_report(results, model="mnist", environment=environment).runs[0]
        ready = steps.token()
        direct = measure_fence_cost(lambda: fence(ready), calls=50).median_ms
        reported.append(run.fence.median_ms)
        token.append(direct)
        print(f"| {round_index + 1} | {run.fence.median_ms:.4f} | {direct:.4f} |")
    print(f"| median | {statistics.median(reported):.4f} | {statistics.median(token):.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
