"""The built-in loop with the default sampling (the budget) on real TensorFlow, in one process, for
test_async_executor.py to run under each executor. Short epochs, so probes pool across epochs.
Prints, per epoch, its step kinds, the probe cost it measured, the fence calls it made and its
attribution, as JSON. One input wait of :data:`STALL_S` is injected in epoch :data:`STALL_EPOCH`, at
step :data:`STALL_STEP` (a block step: no probe, stretch or fenced step falls there).

    python tests/budget_paths.py [--async-executor]
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

EPOCHS, STEPS = 7, 30
STALL_EPOCH, STALL_STEP, STALL_S = 3, 10, 0.2


def main() -> None:
    from tfprof_m1.collection.environment import set_async_executor

    set_async_executor("--async-executor" in sys.argv)  # before any TensorFlow work
    import keras
    import numpy as np
    import tensorflow as tf

    from tfprof_m1 import PhaseProfiler, TrainSteps, detect_fence_kind, make_fence
    from tfprof_m1.analysis.attribution import attribute_epochs
    from tfprof_m1.collection.loop import DEFAULT_SAMPLING, cut_cost, probe_cost, run_profiled_loop

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(STEPS * 64, 256)).astype("float32")
    y = (np.arange(len(x)) % 10).astype("int32")
    batched = tf.data.Dataset.from_tensor_slices((x, y)).batch(64)

    class Stalling:
        """The batches, with one input wait injected (time.sleep: at least STALL_S)."""

        read = 0

        def __len__(self) -> int:
            return STEPS

        def __iter__(self):
            for batch in batched:
                if Stalling.read == STALL_EPOCH * STEPS + STALL_STEP:
                    time.sleep(STALL_S)
                Stalling.read += 1
                yield batch

    dataset = Stalling()
    model = keras.Sequential(
        [keras.Input((256,)), keras.layers.Dense(512, activation="relu"), keras.layers.Dense(10)]
    )
    steps = TrainSteps(
        model, keras.losses.SparseCategoricalCrossentropy(from_logits=True), keras.optimizers.Adam()
    )
    inner = make_fence(detect_fence_kind(), steps.token)
    calls = [0]

    def fence(*depends_on):  # the same fence, counted (no ``idle``: the idle calls count too)
        calls[0] += 1
        inner(*depends_on)

    fence.name = inner.name  # type: ignore[attr-defined]
    fences = []

    def count_fences(result) -> None:
        fences.append(calls[0] - sum(fences))

    profiler = PhaseProfiler(fence=fence)
    run_profiled_loop(steps, dataset, EPOCHS, STEPS, profiler, DEFAULT_SAMPLING, on_epoch_end=count_fences)
    breakdowns = attribute_epochs(profiler.epochs)
    epochs = [
        {
            "kinds": epoch.steps.kinds(),
            "stretches": len(epoch.stretches),
            "steps": len(epoch.steps) + sum(stretch.steps for stretch in epoch.stretches),
            "probe_cost": probe_cost(epoch),
            "cut_cost": cut_cost(epoch),
            "fences": fences[index],
            "fused_waits_ms": [s.waits_ms.get("compute", 0.0) for s in epoch.steps if s.kind == "fused"],
            "fused_ms": [s.wall_ms for s in epoch.steps if s.kind == "fused"],
            "block_waits_ms": [s.waits_ms.get("compute", 0.0) for s in epoch.steps if s.kind == "block"],
            "block_ms": [s.wall_ms for s in epoch.steps if s.kind == "block"],
            "before_step": [stretch.before_step for stretch in epoch.stretches],
            "input_ms": breakdowns[index].step_ms["input"].tolist(),
            "compute_ms": [s.phases_ms.get("compute", 0.0) for s in epoch.steps],
            "wall_ms": epoch.wall_ms,
            "totals_ms": breakdowns[index].totals_ms,
        }
        for index, epoch in enumerate(profiler.epochs)
    ]
    print(
        json.dumps(
            {"executor_async": not tf.config.experimental.get_synchronous_execution(), "epochs": epochs}
        )
    )


if __name__ == "__main__":
    main()
