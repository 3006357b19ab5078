"""Does XProf's overview page read steps that run a tf.while_loop? A small text classifier with a GRU
(a while loop), the same GRU unrolled (no loop) and a Dense layer instead, each profiled in the
built-in loop with 10 traced steps, then opened in a real TensorBoard on loopback.

    .venv/bin/python benchmarks/xprof_recurrent.py

Prints a Markdown table for docs/performance.md: XProf's average step time beside tfprof_m1's.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def run(layer: str, logdir: Path) -> tuple[float, float]:
    import keras
    import numpy as np
    import tensorflow as tf

    from tests.tensorboard_server import TensorBoard
    from tfprof_m1 import (
        PhaseProfiler,
        Sampling,
        StepRange,
        TraceWindow,
        TrainSteps,
        build_report,
        detect_fence_kind,
        make_fence,
        run_profiled_loop,
    )

    tokens = np.random.default_rng(0).integers(0, 1000, size=(60 * 32, 40)).astype("int32")
    dataset = tf.data.Dataset.from_tensor_slices((tokens, (tokens[:, 0] % 2).astype("int32"))).batch(32)
    middle = {
        "gru": [keras.layers.GRU(16)],
        "gru-unrolled": [keras.layers.GRU(16, unroll=True)],
        "dense": [keras.layers.Flatten(), keras.layers.Dense(16)],
    }[layer]
    model = keras.Sequential(
        [keras.Input((40,), dtype="int32"), keras.layers.Embedding(1000, 16), *middle, keras.layers.Dense(2)]
    )
    steps = TrainSteps(
        model,
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        keras.optimizers.Adam(),
        dataset.element_spec,
    )
    profiler = PhaseProfiler(fence=make_fence(detect_fence_kind(), lambda: steps.variables[-1]))
    window = TraceWindow(logdir / layer, StepRange(70, 80), profiler)
    results = run_profiled_loop(steps, dataset, 2, 60, profiler, Sampling(every=10), trace=window)
    ours = build_report(results, model=layer, trace=window).runs[0].trace.timing_step_ms_mean
    with TensorBoard(logdir / layer) as board:
        runs = board.wait_for(lambda: board.get("/data/plugin/profile/runs"), "the profile run")
        xprof = float(board.overview_page(runs[0])["steptime_ms_average"])
    return xprof, ours


def main() -> int:
    logdir = Path(tempfile.mkdtemp(prefix="xprof-recurrent-"))
    print(
        "| model middle | tf.while_loop in the step | XProf overview, "
        "average step (ms) | tfprof_m1, same steps (ms) |"
    )
    print("|---|---|---|---|")
    for layer in ("gru", "gru-unrolled", "dense"):
        xprof, ours = run(layer, logdir)
        print(f"| {layer} | {'yes' if layer == 'gru' else 'no'} | {xprof:.1f} | {ours:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
