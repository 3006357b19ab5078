"""Research code gets what the CLI gets: from your own loop, model and phases to a Report that
``show``, ``compare`` and ``plot`` accept, through public names only (``from tfprof_m1 import ...``)."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import run_cli
from tfprof_m1 import (
    PhaseProfiler,
    Report,
    Sampling,
    TrainSteps,
    build_report,
    compare,
    detect_fence_kind,
    load_report,
    make_fence,
    plot_reports,
    render,
    run_profiled_loop,
)

pytestmark = [pytest.mark.tf, pytest.mark.slow]


def _gru_data(steps: int, batch: int = 16, seed: int = 0) -> tf.data.Dataset:
    """Token sequences for a tiny Embedding+GRU classifier (not one of the article's models)."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 50, size=(steps * batch, 12)).astype("int32")
    labels = (tokens[:, 0] > 25).astype("int32")
    return tf.data.Dataset.from_tensor_slices((tokens, labels)).batch(batch).prefetch(2)


def _gru_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((12,), dtype="int32"),
            keras.layers.Embedding(50, 8),
            keras.layers.GRU(8),
            keras.layers.Dense(2),
        ]
    )


@pytest.fixture(scope="module")
def gru_report(tmp_path_factory) -> Report:
    dataset = _gru_data(steps=24)
    steps = TrainSteps(
        _gru_model(),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        keras.optimizers.Adam(),
        dataset.element_spec,
    )
    profiler = PhaseProfiler(fence=make_fence(detect_fence_kind(), lambda: steps.variables[-1]))
    results = run_profiled_loop(
        steps,
        dataset,
        epochs=2,
        steps_per_epoch=24,
        profiler=profiler,
        sampling=Sampling(every=4, min_samples=3),
    )
    return build_report(results, model="gru")


def test_own_loop_report_has_the_cli_figures_without_benchmark_fields(gru_report, tmp_path):
    run = gru_report.run("gru")
    assert run.source == "loop" and run.data is None and run.forward_flops_per_example is None
    assert run.batch_size == 16 and run.steps_per_epoch == 24
    assert [epoch.loss is not None for epoch in run.epochs] == [True, True]
    parts = {part.part for part in run.steady.parts}
    assert parts == {"call", "forward", "backward", "optimizer"}  # probe steps, with intervals
    assert all(p.share.low <= p.share.point <= p.share.high for p in run.steady.parts)
    assert run.steady.profiling_cost is not None  # unprofiled stretches ran
    phases = [phase.phase for phase in run.steady.phases]
    assert phases[0] == "input" and phases[-1] == "other" and "compute" not in phases
    assert gru_report.config.data == "own" and gru_report.config.seed is None
    assert "call/forward/backward/optimizer" in gru_report.method
    text = render(gru_report)
    assert "gru: training-loop phases" in text and "examples/s" in text
    assert gru_report._repr_markdown_().startswith("### tfprof_m1")
    # the saved report is a report like the CLI's: show reads it
    path = gru_report.save(tmp_path / "gru.json")
    assert load_report(path).run("gru").steady.samples == run.steady.samples
    shown = run_cli("show", str(path), "--format", "markdown")
    assert shown.returncode == 0, shown.stderr
    assert "| input" in shown.stdout


def test_compare_and_plot_take_reports_in_memory(gru_report, tmp_path):
    slower = Report.from_dict(json.loads(gru_report.to_json()))
    slower.environment.device_label = "cpu-slower"
    for epoch in slower.runs[0].epochs:
        epoch.wall_ms *= 2
        epoch.step_ms = {phase: [value * 2 for value in values] for phase, values in epoch.step_ms.items()}
        for phase in epoch.phases:  # the unprofiled stretches and the profiler's phases too
            phase.total_ms *= 2
    (comparison,) = compare([gru_report, slower])
    assert comparison.model == "gru"
    (difference,) = comparison.differences
    assert difference.epoch_ratio.point == pytest.approx(2.0, rel=1e-6)
    path = gru_report.save(tmp_path / "a.json")
    written = plot_reports([path, slower], tmp_path / "plot.png")
    assert written.stat().st_size > 1000


def test_build_report_refuses_a_profiler_that_timed_nothing():
    from tfprof_m1 import UserError

    with pytest.raises(UserError, match="no epoch was timed"):
        build_report(PhaseProfiler(), model="empty")


def _sgd_weights_after_one_step(optimizer: keras.optimizers.Optimizer, **options) -> list[np.ndarray]:
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    x = tf.constant(np.random.default_rng(0).normal(size=(8, 4)).astype("float32"))
    y = tf.constant(np.arange(8) % 3, dtype=tf.int32)
    steps = TrainSteps(
        model, keras.losses.SparseCategoricalCrossentropy(from_logits=True), optimizer, **options
    )
    steps.fused(x, y)
    return [v.numpy() for v in model.trainable_variables]


def test_loss_scaling_moves_the_weights_as_without_it():
    plain = _sgd_weights_after_one_step(keras.optimizers.SGD(0.5))
    scaled = _sgd_weights_after_one_step(keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.5)))
    start = _sgd_weights_after_one_step(keras.optimizers.SGD(0.0))
    for a, b, w in zip(plain, scaled, start):
        assert np.abs(a - w).max() > 1e-3  # the step moved the weights
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_jit_compile_and_gradient_clipping_train_like_the_plain_step():
    plain = _sgd_weights_after_one_step(keras.optimizers.SGD(0.5))
    compiled = _sgd_weights_after_one_step(keras.optimizers.SGD(0.5), jit_compile=True)
    for a, b in zip(plain, compiled):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    start = _sgd_weights_after_one_step(keras.optimizers.SGD(0.0))
    clipped = _sgd_weights_after_one_step(
        keras.optimizers.SGD(0.5), clip_gradients=lambda g: tf.clip_by_global_norm(g, 1e-3)[0]
    )
    moved = np.sqrt(sum(((c - w) ** 2).sum() for c, w in zip(clipped, start)))
    assert moved == pytest.approx(0.5 * 1e-3, rel=1e-3)  # lr × the clipped global norm


def test_regression_with_a_mean_squared_error_reports_loss_only():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], dtype="float32")
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    steps = TrainSteps(
        model, keras.losses.MeanSquaredError(), keras.optimizers.SGD(0.1), dataset.element_spec
    )
    results = run_profiled_loop(
        steps,
        dataset,
        epochs=3,
        steps_per_epoch=4,
        profiler=PhaseProfiler(),
        sampling=Sampling(every=2, min_samples=1, reference_share=0.0),
    )
    losses = [result.loss for result in results]
    assert [result.accuracy for result in results] == [None, None, None]
    assert losses[-1] < losses[0]


def test_mixed_precision_step_yields_a_report():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        dataset = _gru_data(steps=8, seed=2).map(
            lambda tokens, labels: (tf.cast(tokens, tf.float32) / 50.0, labels)
        )
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((12,)),
                keras.layers.Dense(16, activation="relu"),
                keras.layers.Dense(2, dtype="float32"),
            ]
        )
        steps = TrainSteps(
            model,
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam()),
            dataset.element_spec,
        )
        profiler = PhaseProfiler(fence=make_fence(detect_fence_kind(), lambda: steps.variables[-1]))
        results = run_profiled_loop(
            steps,
            dataset,
            epochs=2,
            steps_per_epoch=8,
            profiler=profiler,
            sampling=Sampling(every=2, min_samples=2, reference_share=0.0),
        )
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.layers[0].compute_dtype == "float16"
    report = build_report(results, model="mixed")
    assert report.run("mixed").steady.parts and all(np.isfinite(r.loss) for r in results)


def test_a_two_input_two_output_model_trains_with_its_own_loss():
    keras.utils.set_random_seed(0)
    image, extra = keras.Input((4,), name="image"), keras.Input((2,), name="extra")
    hidden = keras.layers.Dense(8, activation="relu")(keras.layers.Concatenate()([image, extra]))
    model = keras.Model([image, extra], [keras.layers.Dense(3)(hidden), keras.layers.Dense(1)(hidden)])
    classify = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    regress = keras.losses.MeanSquaredError()

    def loss_fn(labels, outputs):
        return classify(labels[0], outputs[0]) + regress(labels[1], outputs[1])

    rng = np.random.default_rng(0)
    inputs = (rng.normal(size=(64, 4)).astype("float32"), rng.normal(size=(64, 2)).astype("float32"))
    labels = (np.arange(64) % 3, rng.normal(size=(64, 1)).astype("float32"))
    dataset = tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(16)
    steps = TrainSteps(model, loss_fn, keras.optimizers.Adam(0.01), dataset.element_spec)
    profiler = PhaseProfiler()
    results = run_profiled_loop(
        steps,
        dataset,
        epochs=3,
        steps_per_epoch=4,
        profiler=profiler,
        sampling=Sampling(every=2, min_samples=1, reference_share=0.0),
    )
    assert results[-1].loss < results[0].loss and results[0].accuracy is None  # structured labels: loss only
    assert build_report(results, model="two_heads").run("two_heads").batch_size == 16
