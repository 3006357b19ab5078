"""Runs that end early keep what they measured: a stop signal in the loop or in fit, a NaN loss.

Real TensorFlow, real signals delivered to this process, real tf.profiler sessions; tiny sizes.
"""

from __future__ import annotations

import gc
import math
import os
import signal

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfprof_m1.analysis.assemble import build_report
from tfprof_m1.analysis.compare import compare
from tfprof_m1.base.errors import UserError
from tfprof_m1.collection.fence import HOST_READ, make_fence
from tfprof_m1.collection.fit import EpochTimer, run_fit
from tfprof_m1.collection.interrupt import TrainingInterrupted
from tfprof_m1.collection.loop import Sampling, run_profiled_loop
from tfprof_m1.collection.profiler import PhaseProfiler
from tfprof_m1.collection.steps import TrainSteps
from tfprof_m1.report.model import Report, RunConfig, load_report
from tfprof_m1.run.outputs import OutputSettings
from tfprof_m1.trace.window import StepRange, TraceWindow
from tfprof_m1.trace.xplane import find_xplane_files
from tfprof_m1.views.render import render_text
from tfprof_m1.workloads.datasets import synthetic
from tfprof_m1.workloads.models import build_model, get_spec
from tfprof_m1.workloads.pipeline import make_dataset

pytestmark = [pytest.mark.tf]

SPEC = get_spec("mnist")
STEPS = 10  # 320 examples in batches of 32
SAMPLING = Sampling(every=2, min_samples=0, reference_share=0.0)  # probes at steps 1, 3, 5, 7, 9


@pytest.fixture(autouse=True)
def _python_handles_sigint():
    """As in a terminal: a suite started in the background inherits SIGINT ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


class Batches:
    """The dataset, calling ``at(epoch, batch)`` before each batch it yields (epochs from 0)."""

    def __init__(self, dataset, at):
        self.dataset, self.at, self.epoch = dataset, at, -1

    def __iter__(self):
        self.epoch += 1
        for index, batch in enumerate(self.dataset):
            self.at(self.epoch, index)
            yield batch


def _train_steps(loss=None):
    dataset = make_dataset(synthetic(SPEC, seed=0, examples=STEPS * 32), batch_size=32, seed=0)
    model = build_model(SPEC, seed=1)
    loss = loss or keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return dataset, TrainSteps(model, loss, keras.optimizers.Adam(), dataset.element_spec)


def _profiler(train_steps):
    return PhaseProfiler(fence=make_fence(HOST_READ, lambda: train_steps.variables[-1]))


def test_ctrl_c_in_epoch_2_keeps_epoch_1_marks_the_cut_short_one_and_saves_the_trace(tmp_path):
    dataset, train_steps = _train_steps()

    def interrupt(epoch, batch):
        if (epoch, batch) == (1, 4):
            os.kill(os.getpid(), signal.SIGINT)

    profiler = _profiler(train_steps)
    window = TraceWindow(tmp_path, StepRange(12, 18), profiler)  # the signal lands at step 14, mid-trace
    with pytest.raises(TrainingInterrupted) as stopped:
        run_profiled_loop(
            train_steps,
            Batches(dataset, interrupt),
            epochs=3,
            steps_per_epoch=STEPS,
            profiler=profiler,
            sampling=SAMPLING,
            trace=window,
        )
    results = stopped.value.partial
    assert stopped.value.signum == signal.SIGINT and isinstance(stopped.value, KeyboardInterrupt)
    assert [r.timing.complete for r in results] == [True, False]
    assert len(results[0].timing.steps) == STEPS
    # The stop waits for the step under way (its batch 4 was being fetched) and no step begins after it.
    assert len(results[1].timing.steps) == 5 and not results[1].timing.stretches
    assert results[0].loss is not None and results[1].loss is None
    # Our profiler session was stopped and its trace saved: readable, and a new session can start.
    assert not window.running and find_xplane_files(tmp_path)
    tf.profiler.experimental.start(str(tmp_path / "again"))
    tf.profiler.experimental.stop()
    assert gc.get_freeze_count() == 0  # the loop's garbage freeze was undone

    report = build_report(results, model="mnist", trace=window)
    run = report.runs[0]
    assert run.interrupted and "epoch 2" in run.interrupted
    assert run.steady.epochs == [0]  # the cut-short epoch never counts as steady
    assert [epoch.complete for epoch in run.epochs] == [True, False]
    assert "INTERRUPTED: mnist" in render_text(report)
    saved = load_report(report.save(tmp_path / "interrupted.json"))
    assert saved.runs[0].interrupted == run.interrupted
    # compare uses complete epochs only and says so
    other = build_report(results[:1], model="mnist")
    other.environment.device_label = "other"
    (comparison,) = compare([report, other])
    assert any("interrupted" in note for figures in comparison.figures for note in figures.notes)
    assert all(len(figures.epoch_ms) == 1 for figures in comparison.figures)


def test_a_stop_in_epoch_1_is_never_a_steady_state_epoch_and_compare_leaves_the_run_out(tmp_path):
    dataset, train_steps = _train_steps()

    def interrupt(epoch, batch):
        if (epoch, batch) == (0, 4):
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(TrainingInterrupted) as stopped:
        run_profiled_loop(
            train_steps,
            Batches(dataset, interrupt),
            epochs=3,
            steps_per_epoch=STEPS,
            profiler=_profiler(train_steps),
            sampling=SAMPLING,
        )
    results = stopped.value.partial
    assert [r.timing.complete for r in results] == [False]
    report = build_report(results, model="mnist")
    run = report.runs[0]
    assert run.steady.epochs == [] and run.interrupted and "epoch 1" in run.interrupted
    assert "no epoch finished (stopped in epoch 1): no steady state" in render_text(report)
    saved = load_report(report.save(tmp_path / "epoch1.json"))  # an honest report loads
    assert saved.runs[0].steady.epochs == [] and not saved.runs[0].epochs[0].complete
    complete = build_report(_complete_results(), model="mnist")
    complete.environment.device_label = "other"
    (comparison,) = compare([report, complete])  # the run with no steady epoch is left out, and said
    assert [figures.label for figures in comparison.figures] == ["other"] and not comparison.differences
    assert any(note.startswith("left out, no complete steady epoch") for note in comparison.notes)


def _complete_results():
    dataset, train_steps = _train_steps()
    return run_profiled_loop(
        train_steps,
        dataset,
        epochs=2,
        steps_per_epoch=STEPS,
        profiler=_profiler(train_steps),
        sampling=SAMPLING,
    )


def test_ctrl_c_in_fit_keeps_its_finished_epochs_and_undoes_the_garbage_freeze():
    dataset, _ = _train_steps()

    def interrupt(epoch, batch):
        if (epoch, batch) == (1, 3):
            os.kill(os.getpid(), signal.SIGINT)

    # fit iterates a tf.data dataset itself: the signal comes from the Python generator it reads,
    # which tf.data calls afresh each epoch
    epochs_started = []

    def generator():
        epochs_started.append(True)
        for index, batch in enumerate(dataset):
            interrupt(len(epochs_started) - 1, index)
            yield batch

    stream = tf.data.Dataset.from_generator(generator, output_signature=dataset.element_spec)
    with pytest.raises(TrainingInterrupted) as stopped:
        run_fit(build_model(SPEC, seed=1), stream, epochs=3)
    fit = stopped.value.partial
    assert len(fit.epoch_ms) == 1 and fit.losses[0] is not None
    assert gc.get_freeze_count() == 0


def _nan_after(gate_epoch, gate_batch):
    """A loss that turns NaN from one batch on (a variable read at run time, inside tf.function)."""
    gate = tf.Variable(1.0)
    base = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def loss(labels, logits):
        return base(labels, logits) * gate

    def at(epoch, batch):
        if (epoch, batch) == (gate_epoch, gate_batch):
            gate.assign(float("nan"))

    return loss, at


def test_a_nan_loss_is_located_at_its_probe_step_reported_as_null_and_can_stop_the_loop():
    loss, at = _nan_after(1, 4)  # global step 14: probes at 13 (finite) and 15 (not)
    dataset, train_steps = _train_steps(loss)
    profiler = _profiler(train_steps)
    results = run_profiled_loop(
        train_steps,
        Batches(dataset, at),
        epochs=3,
        steps_per_epoch=STEPS,
        profiler=profiler,
        sampling=SAMPLING,
        stop_on_non_finite=True,
    )
    assert len(results) == 2  # stopped after the epoch the loss went NaN in
    assert results[0].non_finite_steps is None and math.isnan(results[1].loss)
    assert results[1].non_finite_steps == (13, 15)
    report = build_report(results, model="mnist")
    run = report.runs[0]
    assert run.epochs[1].loss is None
    assert any("global step 15" in w and "step 13" in w for w in run.warnings)
    assert any("epoch 2" in w and "nan" in w for w in run.warnings)
    text = render_text(report)
    assert "nan" not in text.replace("training diverged", "").lower().replace("the training loss was nan", "")
    assert "NaN" not in report.to_json()


def test_fit_stops_after_the_epoch_whose_loss_is_nan_when_asked():
    loss, at = _nan_after(0, 2)
    dataset, _ = _train_steps()
    model = build_model(SPEC, seed=1)
    model.compile(optimizer=keras.optimizers.Adam(), loss=loss)
    at(0, 2)
    timer = EpochTimer(stop_on_non_finite=True)
    model.fit(dataset, epochs=3, verbose=0, callbacks=[timer])
    assert len(timer.epoch_ms) == 1 and math.isnan(timer.losses[0])
    go_on = EpochTimer()
    model.fit(dataset, epochs=2, verbose=0, callbacks=[go_on])
    assert len(go_on.epoch_ms) == 2  # without the option fit trains on, as before


def test_an_inconsistent_report_in_memory_is_refused_by_compare_in_one_line():
    dataset, train_steps = _train_steps()
    results = run_profiled_loop(
        train_steps,
        dataset,
        epochs=1,
        steps_per_epoch=STEPS,
        profiler=_profiler(train_steps),
        sampling=SAMPLING,
    )
    good = build_report(results, model="mnist")
    broken = Report.from_dict(good.to_dict())
    broken.runs[0].steady.epochs = []

    with pytest.raises(UserError, match=r"report 2 \(in memory\).*steady.epochs"):
        compare([good, broken])
    assert np.isfinite(good.runs[0].steady.epoch_mean_ms)


def test_stop_on_nan_ends_the_benchmarks_loop_and_fit_after_the_first_non_finite_epoch(monkeypatch):
    """The CLI's path (run_benchmark) with --stop-on-nan, on an article model whose output is made NaN
    (the article models cannot diverge on their data at Adam's default rate)."""
    import tfprof_m1.run.bench as bench
    import tfprof_m1.run.fit_headline as fit_headline

    def diverging(spec, seed=0):
        model = build_model(spec, seed=seed)
        return keras.Sequential([model, keras.layers.Lambda(lambda logits: logits * float("nan"))])

    monkeypatch.setattr(bench, "build_model", diverging)  # the loop's model
    monkeypatch.setattr(fit_headline, "build_model", diverging)  # fit's fresh copy
    config = RunConfig(models=["mnist"], epochs=3, steps=10, data="synthetic", peak=False, stop_on_nan=True)
    report = bench.run_benchmark(config, output_settings=OutputSettings(logdir=None))
    (run,) = report.runs
    assert len(run.epochs) == 1 and run.fit is not None and len(run.fit.epoch_ms) == 1
    assert run.interrupted == (
        "loop's loss became NaN in epoch 1 of 3; loop stopped there (--stop-on-nan); "
        "fit's loss became NaN in epoch 1 of 3; fit stopped there (--stop-on-nan)"
    )
    assert run.epochs[0].loss is None and run.fit.losses == [None]
    assert any("global step" in warning for warning in run.warnings)  # located at its probe step
    assert "NaN" not in report.to_json().replace("became NaN", "")
