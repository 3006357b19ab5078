"""Small real runs for compare's A/B tests: one model trained through the project's own API
(TrainSteps, run_profiled_loop, build_report) with one setting changed at a time. Real
TensorFlow, a few steps each; the reports are saved once per session (see conftest.ab_reports).
"""

from __future__ import annotations

from pathlib import Path

#: The baseline: float32, no XLA, batch 32, a 64-unit hidden layer, 4,096 examples an epoch (so the
#: batch-256 side still has 16 steps an epoch, four of them probes: fewer left its verdict to noise).
BASELINE = {"policy": "float32", "jit": False, "batch": 32, "width": 64}
#: One change each: name -> the setting that differs.
VARIANTS = {
    "baseline": {},
    "mixed": {"policy": "mixed_float16"},
    "xla": {"jit": True},
    "batch256": {"batch": 256},
    "wide": {"width": 1024},
}
EXAMPLES = 4096
FEATURES = 64
EPOCHS = 6


def train_report(policy: str, jit: bool, batch: int, width: int, model: str = "mlp"):
    """One profiled run of an MLP on random data, its report built after the global policy was
    restored (as research code does)."""
    import keras
    import numpy as np
    import tensorflow as tf

    from tfprof_m1 import PhaseProfiler, Sampling, TrainSteps, build_report, run_profiled_loop

    rng = np.random.default_rng(0)
    x = rng.normal(size=(EXAMPLES, FEATURES)).astype("float32")
    y = (np.arange(EXAMPLES) % 10).astype("int32")
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)
    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        net = keras.Sequential(
            [
                keras.Input((FEATURES,)),
                keras.layers.Dense(width, activation="relu"),
                keras.layers.Dense(width, activation="relu"),
                keras.layers.Dense(10, dtype="float32"),
            ]
        )
        optimizer = keras.optimizers.SGD(0.01)
        if policy == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        steps = TrainSteps(
            net,
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            optimizer,
            dataset.element_spec,
            jit_compile=jit,
        )
        results = run_profiled_loop(
            steps,
            dataset,
            epochs=EPOCHS,
            steps_per_epoch=EXAMPLES // batch,
            profiler=PhaseProfiler(),
            sampling=Sampling(every=4, min_samples=2),
        )
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return build_report(results, model=model)


def write_reports(directory: Path) -> dict[str, Path]:
    """Every variant's report, saved under ``directory``: name -> path."""
    paths = {}
    for name, change in VARIANTS.items():
        path = directory / f"{name}.json"
        train_report(**{**BASELINE, **change}).save(path)
        paths[name] = path
    return paths


def unprofiled_epoch(run: dict, per_example: bool = False) -> float:
    """A run's mean steady epoch as it would run unprofiled (ms, or µs per example), computed from its
    report's JSON by the rule docs/comparing.md gives: the unprofiled stretches as they ran, the
    rest (less the trace) divided by the measured profiled/unprofiled per-step ratio; without a
    ratio, the wall time less the profiler's own phases."""
    cost = run["steady"]["profiling_cost"]
    values = []
    for epoch in run["epochs"]:
        if epoch["index"] not in run["steady"]["epochs"]:
            continue
        totals = {phase["phase"]: phase["total_ms"] for phase in epoch["phases"]}
        unprofiled, trace = totals.get("unprofiled", 0.0), totals.get("trace", 0.0)
        if cost is None:
            equivalent = epoch["wall_ms"] - trace - totals.get("profiling", 0.0)
        else:
            equivalent = unprofiled + (epoch["wall_ms"] - unprofiled - trace) / cost["ratio"]["point"]
        values.append(equivalent * 1000 / epoch["examples"] if per_example else equivalent)
    return sum(values) / len(values)
