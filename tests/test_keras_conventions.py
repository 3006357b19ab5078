"""Research code written the ordinary Keras way: profiling changes nothing that is trained, and where
Keras defines a behaviour (steps_per_epoch, steps_per_execution, accuracy for each label form), the
profiler does what Keras does, checked against Keras on the same data."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import REPO
from tfprof_m1 import PhaseProfiler, ProfileCallback, Sampling, TrainSteps, build_report, run_profiled_loop
from tfprof_m1.collection.epoch_data import RAN_OUT_OF_DATA
from tfprof_m1.views.render import render_text

pytestmark = [pytest.mark.tf]

LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _mlp(inputs: int = 8, classes: int = 3, seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [keras.Input((inputs,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(classes)]
    )


def _data(batches: int, batch: int = 8, inputs: int = 8, classes: int = 3):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(batches * batch, inputs)).astype("float32")
    y = rng.integers(0, classes, size=batches * batch).astype("int32")
    return x, y


def _steps_per_epoch(results) -> list[int]:
    return [len(r.timing.steps) + sum(s.steps for s in r.timing.stretches) for r in results]


# -- profiling changes nothing that is trained --------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("executor", ["sync", "async"])
def test_a_profiled_model_ends_exactly_as_a_plain_one_every_variable_and_rng_state(executor):
    """BatchNorm, Dropout, keras.random through the global seed generator and a LossScaleOptimizer,
    trained the same 16 steps plainly and with probes on every other step: every variable of model
    and optimizer, trainable or not, and the seed generators' state are bit for bit equal."""
    args = [sys.executable, str(REPO / "tests" / "probe_state.py")]
    if executor == "async":
        args.append("--async-executor")
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["executor_async"] is (executor == "async")
    assert result["probe_steps"] == 8 and result["missing"] == []
    assert result["restored"] >= 4  # moving mean and variance, Dropout's and the global seed state
    names = " ".join(result["names"])
    assert "moving_mean" in names and "seed_generator_state" in names and "global seed" in names
    assert "dynamic_scale" in names  # the loss-scale state
    assert result["max_difference"] and max(result["max_difference"].values()) == 0.0
    assert result["loss"][0] == result["loss"][1]


# -- steps_per_epoch as fit reads it -------------------------------------------------------------
class _BatchCounter(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.counts = getattr(self, "counts", []) + [0]

    def on_train_batch_end(self, batch, logs=None):
        self.counts[-1] += 1


def _keras_batches_per_epoch(dataset, epochs, steps_per_epoch):
    model = _mlp()
    model.compile("sgd", LOSS)
    counter = _BatchCounter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(dataset, epochs=epochs, steps_per_epoch=steps_per_epoch, verbose=0, callbacks=[counter])
    return counter.counts


def _profiled_batches_per_epoch(dataset, epochs, steps_per_epoch):
    steps = TrainSteps(_mlp(), LOSS, keras.optimizers.SGD(), dataset.element_spec)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = run_profiled_loop(
            steps,
            dataset,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            profiler=PhaseProfiler(),
            sampling=Sampling(every=3, min_samples=1, reference_share=0.0),
        )
    ran_out = [str(w.message) == RAN_OUT_OF_DATA for w in caught]
    return results, _steps_per_epoch(results), sum(ran_out)


@pytest.mark.parametrize(
    "batches, repeat, steps_per_epoch",
    [
        (6, True, 4),  # an infinite dataset: the Keras convention
        (10, False, 4),  # fewer steps than the data: one iterator across epochs, restarted at the end
        (5, False, 7),  # more steps than the data: every epoch runs out, with Keras' warning
        (6, False, None),  # the whole dataset each epoch
    ],
    ids=["infinite", "fewer-than-data", "more-than-data", "whole"],
)
def test_each_epoch_reads_the_batches_fit_reads(batches, repeat, steps_per_epoch):
    x, y = _data(batches)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    if repeat:
        dataset = dataset.repeat()
    epochs = 3
    expected = _keras_batches_per_epoch(dataset, epochs, steps_per_epoch)
    results, counted, warned = _profiled_batches_per_epoch(dataset, epochs, steps_per_epoch)
    assert counted == expected
    assert [r.timing.examples for r in results] == [8 * n for n in expected]
    short = [r.ran_out_of_data for r in results]
    assert warned == sum(short)
    if steps_per_epoch is not None and steps_per_epoch > batches:
        assert all(short)
        report = build_report(results, model="short")
        assert sum("ran out of data" in w for w in report.runs[0].warnings) == epochs


def test_an_infinite_dataset_without_steps_per_epoch_is_one_clear_error():
    x, y = _data(2)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).repeat()
    steps = TrainSteps(_mlp(), LOSS, keras.optimizers.SGD(), dataset.element_spec)
    with pytest.raises(ValueError, match="steps_per_epoch is needed"):
        run_profiled_loop(steps, dataset, epochs=1, steps_per_epoch=None, profiler=PhaseProfiler())


# -- accuracy as Keras' metrics mean it --------------------------------------------------------
LABEL_FORMS = {
    "(N,) int32": lambda y, c: y.astype("int32"),
    "(N,) int64": lambda y, c: y.astype("int64"),
    "(N,1) uint8 (keras.datasets)": lambda y, c: y.astype("uint8").reshape(-1, 1),
    "(N,1) int32": lambda y, c: y.astype("int32").reshape(-1, 1),
    "one-hot float32": lambda y, c: np.eye(c, dtype="float32")[y],
}


@pytest.mark.parametrize("form", LABEL_FORMS, ids=list(LABEL_FORMS))
def test_accuracy_equals_keras_metric_for_every_label_form(form):
    """With a learning rate of 0 the model is the same at every step, so the epoch's accuracy must be
    Keras' own metric over the same examples."""
    classes = 10
    x, y = _data(6, classes=classes)
    labels = LABEL_FORMS[form](y, classes)
    dataset = tf.data.Dataset.from_tensor_slices((x, labels)).batch(8)
    model = _mlp(classes=classes)
    loss = keras.losses.CategoricalCrossentropy(from_logits=True) if "one-hot" in form else LOSS
    steps = TrainSteps(model, loss, keras.optimizers.SGD(learning_rate=0.0), dataset.element_spec)
    results = run_profiled_loop(
        steps, dataset, 2, 6, PhaseProfiler(), Sampling(every=2, min_samples=1, reference_share=0.0)
    )
    metric = (
        keras.metrics.CategoricalAccuracy()
        if "one-hot" in form
        else keras.metrics.SparseCategoricalAccuracy()
    )
    metric.update_state(labels, model(x, training=False))
    expected = float(metric.result())
    assert 0.0 < expected < 1.0  # a figure that could be wrong either way
    assert [r.accuracy for r in results] == pytest.approx([expected, expected], abs=1e-6)


def _first_two_mse(labels, outputs):
    return keras.ops.mean(keras.ops.square(labels - outputs[:, :2]))


def test_regression_labels_give_no_accuracy_and_say_why_and_asking_for_it_is_an_error():
    x, _ = _data(4)
    targets = x[:, :3].copy()
    dataset = tf.data.Dataset.from_tensor_slices((x, targets)).batch(8)
    steps = TrainSteps(_mlp(), keras.losses.MeanSquaredError(), keras.optimizers.SGD(), dataset.element_spec)
    results = run_profiled_loop(steps, dataset, 1, 4, PhaseProfiler(), Sampling(every=2, reference_share=0.0))
    assert results[0].accuracy is None
    run = build_report(results, model="regression").runs[0]
    assert any(w.startswith("accuracy not measured: labels of the outputs' shape") for w in run.warnings)
    two = tf.data.Dataset.from_tensor_slices((x, x[:, :2].copy())).batch(8)  # fits no accuracy
    with pytest.raises(ValueError, match="accuracy=True: accuracy not measured"):
        run_profiled_loop(
            TrainSteps(_mlp(), _first_two_mse, keras.optimizers.SGD(), two.element_spec, accuracy=True),
            two,
            1,
            4,
            PhaseProfiler(),
            Sampling(every=2, reference_share=0.0),
        )


# -- a notebook cell run twice -------------------------------------------------------------------
def test_one_profiler_used_for_two_runs_keeps_each_runs_warmup_apart():
    x, y = _data(6)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    profiler = PhaseProfiler()
    for _ in range(2):
        steps = TrainSteps(_mlp(), LOSS, keras.optimizers.Adam(), dataset.element_spec)
        run_profiled_loop(steps, dataset, 2, 6, profiler, Sampling(every=2, reference_share=0.0))
    assert profiler.runs == 2
    run = build_report(profiler, model="twice").runs[0]
    assert [e.warmup for e in run.epochs] == [True, False, True, False]
    assert run.steady.epochs == [1, 3]
    assert any("2 runs" in w for w in run.warnings)


# -- the report says what trained ---------------------------------------------------------------
def test_the_report_records_the_models_policy_xla_and_input_as_they_trained():
    x, y = _data(4)
    dataset = tf.data.Dataset.from_tensor_slices((x.astype("float64"), y)).batch(8)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = _mlp()
    finally:
        keras.mixed_precision.set_global_policy("float32")  # as docs/own-step.md's example does
    optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam())
    steps = TrainSteps(model, LOSS, optimizer, dataset.element_spec, jit_compile=True)
    results = run_profiled_loop(steps, dataset, 1, 4, PhaseProfiler(), Sampling(every=2, reference_share=0.0))
    fingerprint = build_report(results, model="mixed").runs[0].fingerprint
    assert fingerprint.mixed_precision == "mixed_float16"
    assert fingerprint.loop_jit_compile is True
    assert fingerprint.input_dtype == "float64"
    assert fingerprint.input_path.startswith("tf.data.Dataset")
    assert fingerprint.steps_per_execution == 1


# -- fit as people run it ------------------------------------------------------------------------
def _fit(callbacks, epochs=2, batches=10, steps_per_execution=1, validation=False):
    x, y = _data(batches)
    model = _mlp()
    model.compile("adam", LOSS, metrics=["accuracy"], steps_per_execution=steps_per_execution)
    val = (x[:16], y[:16]) if validation else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x, y, batch_size=8, epochs=epochs, verbose=0, callbacks=callbacks, validation_data=val)
    return model


@pytest.mark.parametrize("steps_per_execution", [1, 4])
def test_profile_callback_counts_batches_as_keras_does_for_any_steps_per_execution(steps_per_execution):
    counter = _BatchCounter()  # counts hook calls: one per execution
    callback = ProfileCallback(batch_size=8)
    _fit([counter, callback], batches=10, steps_per_execution=steps_per_execution)
    run = callback.report(model="spe").runs[0]
    assert run.steps_per_epoch == 10  # 10 batches, whatever the hooks saw
    assert counter.counts == [-(-10 // steps_per_execution)] * 2
    assert [e.examples for e in run.epochs] == [80, 80]
    assert run.fingerprint.steps_per_execution == steps_per_execution
    assert any("steps_per_execution=4" in w for w in run.warnings) is (steps_per_execution == 4)


class _Sleeper(keras.callbacks.Callback):
    """A known cost injected into other callbacks' batch hooks."""

    DELAY_S = 0.05

    def on_train_batch_end(self, batch, logs=None):
        time.sleep(self.DELAY_S)


@pytest.mark.slow
def test_a_callback_before_profile_callback_is_not_counted_as_compute():
    figures = {}
    for first in (True, False):
        callback = ProfileCallback(batch_size=8)
        _fit([_Sleeper(), callback] if first else [callback, _Sleeper()], epochs=3)
        steady = callback.report().runs[0].steady
        phases = {p.phase: p for p in steady.phases}
        figures[first] = (phases["compute"].step_median_ms, phases["other"].total_ms)
    injected_ms = _Sleeper.DELAY_S * 1000
    (compute_first, other_first), (compute_after, other_after) = figures[True], figures[False]
    assert compute_first < compute_after + 0.5 * injected_ms  # the sleep is not inside a batch
    for other in (other_first, other_after):
        assert other > 0.8 * injected_ms * 10  # it is in `other`, where the docs say it is


@pytest.mark.slow
def test_fit_names_validation_and_epoch_start_and_a_cut_epoch_is_marked(tmp_path):
    class CtrlC(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == 2 and batch == 3:
                raise KeyboardInterrupt

    callback = ProfileCallback(str(tmp_path), batch_size=8, model_name="cut")
    with pytest.raises(KeyboardInterrupt):
        _fit([callback, CtrlC()], epochs=4, validation=True)
    callback.close()
    report = callback.write(str(tmp_path))
    run = report.runs[0]
    assert [(e.index, e.complete) for e in run.epochs] == [(0, True), (1, True), (2, False)]
    assert run.epochs[-1].steps == 4 and 2 not in run.steady.epochs and run.interrupted
    phases = {p.phase: p for p in run.epochs[1].phases}
    assert phases["validation"].total_ms > 0 and phases["epoch_start"].total_ms > 0
    assert phases["validation"].step_median_ms is None  # an epoch-level phase: no per-step figure
    text = render_text(report)
    assert "custom loop" not in text.split("cut: fit")[0]  # no loop ran: no loop columns
    # a fit-only report says why its cost is not measured, and shows fit's memory (a trial saw a
    # pointer to run_profiled_loop and no memory line)
    flat = " ".join(text.split())
    assert "not measured for a fit (ProfileCallback fences every batch" in flat
    assert run.fit is not None and run.fit.memory and "memory after each fit epoch: host RSS" in flat
    assert json.loads((tmp_path / "report.json").read_text())["runs"][0]["epochs"][-1]["complete"] is False
