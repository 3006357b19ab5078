"""The tf.profiler trace window on a real loop: step markers, only our own session, failures kept."""

from __future__ import annotations

import keras
import pytest
import tensorflow as tf

from tfprof_m1.analysis.attribution import attribute_epochs
from tfprof_m1.base.errors import UserError
from tfprof_m1.collection.fence import HOST_READ, make_fence
from tfprof_m1.collection.loop import Sampling, run_profiled_loop
from tfprof_m1.collection.profiler import PhaseProfiler
from tfprof_m1.collection.steps import TrainSteps
from tfprof_m1.trace.window import StepRange, TraceWindow, default_step_range, parse_step_range
from tfprof_m1.trace.xplane import analyze_run_dir
from tfprof_m1.workloads.datasets import synthetic
from tfprof_m1.workloads.models import build_model, get_spec
from tfprof_m1.workloads.pipeline import make_dataset

pytestmark = [pytest.mark.tf, pytest.mark.slow]


def test_step_ranges():
    assert parse_step_range("20:30") == StepRange(20, 30)
    for bad in ("20", "a:b", "30:20", "-1:4", "5:5"):
        with pytest.raises(UserError, match="--trace-steps"):
            parse_step_range(bad)
    assert default_step_range(1563, 3) == StepRange(1573, 1583)  # epoch 2, 10 steps in
    assert default_step_range(20, 2) == StepRange(25, 35)
    assert default_step_range(20, 1) == StepRange(5, 15)
    assert default_step_range(3, 1) == StepRange(0, 3)
    # the default window moves to hold a probe step when the usual one holds none
    plan = Sampling(every=50, min_samples=10).plan(1563)
    probes = [index for index, kind in enumerate(plan) if kind == "probe"]
    window = default_step_range(1563, 3, probes)
    assert any(window.start <= 1563 + probe < window.stop for probe in probes)
    assert window.stop - window.start == 10 and 1563 <= window.start < 2 * 1563
    assert default_step_range(20, 2, [5]) == StepRange(25, 35)  # already holds one: unchanged
    # a window over an unprofiled stretch would take the epoch's cost reference away: it moves
    assert default_step_range(1563, 3, [], range(15, 35)) == StepRange(1563 + 35, 1563 + 45)
    assert default_step_range(20, 2, [], [10, 11]) == StepRange(32, 40)  # the longest run, shorter
    assert default_step_range(1563, 3, [], range(700, 720)) == StepRange(1573, 1583)  # not in it: kept


def test_the_trace_shows_each_probe_call_as_a_span_named_for_its_part(traced):
    from tfprof_m1.base.phases import PROBE_SPANS
    from tfprof_m1.trace.xplane import find_xplane_files, read_xspace

    logdir, window, _ = traced
    names = set()
    for path in find_xplane_files(logdir):
        for plane in read_xspace(path).planes:
            names |= {meta.name for meta in plane.event_metadata.values()}
    for variant in ("empty_call", "forward_only", "forward_backward", "full_step"):
        assert PROBE_SPANS[variant] in names, variant


def _loop(logdir, window_steps, epochs=2, steps=12, sampling=Sampling(every=4, min_samples=1)):
    spec = get_spec("mnist")
    dataset = make_dataset(synthetic(spec, seed=0, examples=32 * steps), 32, seed=0)
    train_steps = TrainSteps(
        build_model(spec, seed=0),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        keras.optimizers.Adam(),
        dataset.element_spec,
    )
    profiler = PhaseProfiler(fence=make_fence(HOST_READ, lambda: train_steps.variables[-1]))
    window = TraceWindow(logdir, window_steps, profiler)
    run_profiled_loop(train_steps, dataset, epochs, steps, profiler, sampling, trace=window)
    window.close()
    return window, profiler


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("trace")
    window, profiler = _loop(logdir, StepRange(14, 20))
    return logdir, window, profiler


def test_window_traces_exactly_its_steps_and_stops(traced):
    logdir, window, profiler = traced
    assert window.traced_steps == [14, 15, 16, 17, 18, 19]
    assert window.problem is None
    (path,) = window.files
    assert path.parent.parent == logdir / "plugins" / "profile"
    # the session was stopped: a new one can start (and is ours to stop)
    tf.profiler.experimental.start(str(logdir / "again"))
    tf.profiler.experimental.stop()
    # starting and stopping the profiler is timed as its own phase, in the traced epoch only
    first, second = attribute_epochs(profiler.epochs)
    assert "trace" not in first.totals_ms and second.totals_ms["trace"] > 0


def test_trace_has_one_marker_per_traced_step_and_attributes_ops(traced):
    logdir, window, _ = traced
    summary = analyze_run_dir(logdir)
    assert summary.traced_steps == window.traced_steps
    assert summary.step_markers == 6 and summary.step_ms_mean > 0
    assert (
        summary.shares["forward"] > 0 and summary.shares["backward"] > 0 and summary.shares["optimizer"] > 0
    )
    assert sum(summary.shares.values()) == pytest.approx(1.0)
    assert summary.input_wait_ms > 0  # next() was inside the markers
    assert not any("no IteratorGetNext" in note for note in summary.notes)
    assert any("MatMul" in op.name for op in summary.top_ops["forward"])
    if not tf.config.list_physical_devices(
        "GPU"
    ):  # a CPU run's trace has no device plane and nothing to note
        assert summary.device_planes == [] and summary.notes == []


def test_a_running_session_is_left_alone_and_the_run_goes_on(tmp_path):
    tf.profiler.experimental.start(str(tmp_path / "users_own"))
    try:
        window, profiler = _loop(tmp_path / "ours", StepRange(2, 5), epochs=1, steps=6)
        assert window.traced_steps == [] and "could not start" in window.problem
        assert len(profiler.epochs) == 1 and profiler.epochs[0].complete
    finally:
        tf.profiler.experimental.stop()  # the user's session is still running: stopping it succeeds
    assert not (tmp_path / "ours" / "plugins").exists()


def _scalar_tags(logdir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(logdir), size_guidance={"tensors": 0})
    accumulator.Reload()
    return accumulator.Tags()["tensors"], accumulator


def test_research_code_scalars_from_breakdowns(traced, tmp_path):
    from tfprof_m1.views.tensorboard_writer import PhaseScalarWriter

    _, _, profiler = traced
    writer = PhaseScalarWriter(tmp_path / "mine")
    assert not (tmp_path / "mine").exists()  # created lazily
    writer.write_breakdowns(attribute_epochs(profiler.epochs), losses=[2.0, 1.5])
    writer.close()
    tags, accumulator = _scalar_tags(tmp_path / "mine")
    for tag in (
        "phase/forward_ms_per_step",
        "phase/input_ms_per_step",
        "phase_share/other",
        "epoch/step_time_ms",
        "epoch/loss",
    ):
        assert tag in tags, tag
    assert [event.step for event in accumulator.Tensors("epoch/wall_time_s")] == [1, 2]


def test_an_estimated_part_at_zero_keeps_its_scalar_and_a_phase_outside_steps_has_none(tmp_path):
    """A tiny model's forward estimate can be noise at or below zero (clipped to 0 ms): its line must
    not vanish from TensorBoard for that epoch; a phase that only occurs outside steps has no
    per-step value to chart."""
    from tfprof_m1.analysis.attribution import EpochBreakdown
    from tfprof_m1.analysis.figures import epoch_report
    from tfprof_m1.collection.profiler import EpochTiming, StepTiming
    from tfprof_m1.views.tensorboard_writer import PhaseScalarWriter

    writer = PhaseScalarWriter(tmp_path / "zero")
    step_ms = {"input": [0.2, 0.3], "forward": [0.0, 0.0], "backward": [2.0, 2.1], "sync": [0.0, 0.0]}
    steps = [StepTiming("fused", 32, 2.5), StepTiming("fused", 32, 2.5)]
    breakdown = EpochBreakdown(
        timing=EpochTiming(0, 10.0, steps, complete=True),
        step_ms=step_ms,
        totals_ms={"input": 0.5, "forward": 0.0, "backward": 4.1, "sync": 0.4, "other": 5.0},
        proportions={"forward": 0.0, "backward": 1.0},
        proportions_source="pooled",
    )
    writer.write_epoch(epoch_report(breakdown, None, None, warmup=True))
    writer.close()
    tags, accumulator = _scalar_tags(tmp_path / "zero")
    assert "phase/forward_ms_per_step" in tags and "phase/sync_ms_per_step" not in tags
    (event,) = accumulator.Tensors("phase/forward_ms_per_step")
    assert tf.make_ndarray(event.tensor_proto) == 0.0


def test_profile_callback_traces_fit_batches_and_writes_epoch_times(tmp_path):
    from tfprof_m1.run.fit_callback import ProfileCallback

    spec = get_spec("mnist")
    dataset = make_dataset(synthetic(spec, seed=0, examples=32 * 8), 32, seed=0)
    model = build_model(spec, seed=0)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    callback = ProfileCallback(str(tmp_path), trace_steps=StepRange(10, 13))
    model.fit(dataset, epochs=2, verbose=0, callbacks=[callback])
    assert callback.window.traced_steps == [10, 11, 12] and len(callback.epoch_ms) == 2
    summary = analyze_run_dir(tmp_path)
    assert summary.traced_steps == [10, 11, 12]
    assert summary.input_wait_ms >= 0 and summary.shares.get("backward", 0) > 0
    tags, accumulator = _scalar_tags(tmp_path)
    assert [event.step for event in accumulator.Tensors("fit/epoch_time_s")] == [1, 2]


def test_a_window_past_the_loop_is_closed_when_the_loop_ends(tmp_path):
    """The window 20:40 reaches past a 24-step loop: run_profiled_loop must stop the session, so the
    next window starts instead of failing with AlreadyExists."""
    window, _ = _loop(tmp_path / "first", StepRange(20, 40), epochs=2, steps=12)
    assert window.traced_steps == [20, 21, 22, 23] and not window.running and window.problem is None
    second = TraceWindow(tmp_path / "second", StepRange(0, 2))
    with second:
        for step in range(3):
            with second.step(step):
                tf.reduce_sum(tf.ones([4]))
    assert second.traced_steps == [0, 1] and second.problem is None and second.files


def test_a_window_that_cannot_start_says_so_on_stderr_and_in_its_problem(tmp_path, capsys):
    tf.profiler.experimental.start(str(tmp_path / "someone-else"))
    try:
        with TraceWindow(tmp_path / "mine", StepRange(0, 2)) as window:
            for step in range(2):
                with window.step(step) as traced:
                    assert not traced
    finally:
        tf.profiler.experimental.stop()
    assert window.problem and "could not start" in window.problem
    assert capsys.readouterr().err.count("could not start") == 1


def test_a_repeating_schedule_traces_each_cycle_into_its_own_session(tmp_path):
    from tfprof_m1.trace.window import TraceSchedule

    schedule = TraceSchedule(wait=2, warmup=1, active=2, repeat=2)
    assert [schedule.cycle(step) for step in (0, 2, 3, 5, 7, 8, 10)] == [
        (0, "wait"),
        (0, "warmup"),
        (0, "active"),
        (1, "wait"),
        (1, "warmup"),
        (1, "active"),
        None,
    ]
    with TraceWindow(tmp_path, schedule) as window:
        for step in range(14):
            with window.step(step):
                tf.reduce_sum(tf.ones([4]))
    assert window.traced_steps == [3, 4, 8, 9]
    assert len(window.files) == 2 and any("cycle_2" in str(path) for path in window.files)
    summary = analyze_run_dir(tmp_path)
    assert summary.traced_steps == [3, 4, 8, 9]  # the warm-up steps are in the sessions but not marked


def test_a_schedules_session_stops_at_the_first_step_past_its_last_cycle_among_block_steps(tmp_path):
    """Under a schedule the session is stopped by the first step past a cycle's active steps. The
    loop runs runs of block steps in a tight loop that does not pass each step through the window,
    so it must not take that loop while a session runs: the steps after the last cycle would be
    traced (and slowed) until the loop ended. Starting and stopping is timed as ``trace`` on the
    step it comes before: here the start before step 2 (warm-up) and the stop before step 5."""
    from tfprof_m1.trace.window import TraceSchedule

    schedule = TraceSchedule(wait=2, warmup=1, active=2, repeat=1)
    blocks_only = Sampling(every=10**9, min_samples=0, reference_share=0.0)
    window, profiler = _loop(tmp_path, schedule, epochs=1, steps=16, sampling=blocks_only)
    assert window.traced_steps == [3, 4]
    steps = profiler.epochs[0].steps
    timed = [index for index, step in enumerate(steps) if step.phases_ms.get("trace", 0.0) > 0]
    assert timed == [2, 5], timed
    assert steps.kinds()[6:] == ["block"] * 10  # past the session: block steps again


def _compiled_mnist(batches: int, **compile_options):
    """mnist's model compiled for fit with Adam (and ``compile_options``), and ``batches`` synthetic
    batches of 32."""
    spec = get_spec("mnist")
    dataset = make_dataset(synthetic(spec, seed=0, examples=32 * batches), 32, seed=0)
    model = build_model(spec, seed=0)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer="adam", loss=loss, **compile_options)
    return model, dataset


def test_fit_callback_report_has_per_batch_times_and_attributes_the_optimizer(tmp_path):
    from tfprof_m1 import load_report
    from tfprof_m1.run.fit_callback import ProfileCallback

    model, dataset = _compiled_mnist(batches=8, metrics=["accuracy"])
    callback = ProfileCallback(
        str(tmp_path), trace_steps=StepRange(10, 13), batch_size=32, model_name="mnist-fit"
    )
    model.fit(dataset, epochs=2, verbose=0, callbacks=[callback])
    saved = load_report(tmp_path / "report.json")  # written when training ended
    run = saved.run("mnist-fit")
    assert run.source == "fit" and [epoch.steps for epoch in run.epochs] == [8, 8]
    assert len(run.epochs[1].step_ms["compute"]) == 8 and run.steady.examples_per_s > 0
    assert run.fit is not None and run.headline.fit_epoch_mean_ms == pytest.approx(run.fit.epoch_ms[1])
    assert (
        run.trace is not None and run.trace.shares["optimizer"] > 0.05
    )  # fit names its ops StatefulPartitionedCall/adam/...
    assert run.trace.shares["backward"] > 0 and run.trace.shares["forward"] > 0
    for epoch in run.epochs:
        assert sum(phase.total_ms for phase in epoch.phases) == pytest.approx(epoch.wall_ms)
    # show and plot take it like the CLI's reports
    from tests.conftest import run_cli
    from tfprof_m1 import plot_reports

    shown = run_cli("show", str(tmp_path / "report.json"))
    assert shown.returncode == 0 and "mnist-fit: Keras fit phases" in shown.stdout
    assert plot_reports([saved], tmp_path / "fit.png").stat().st_size > 1000


def test_a_fit_trace_under_steps_per_execution_counts_calls_of_n_batches(tmp_path):
    """A trial's fit with steps_per_execution=4 read "traced steps 72–76 (2 step markers)" where 8
    batches were traced, set a 4-batch call's 49.9 ms against a batch's 12.5 ms, and called Keras's
    loop a recurrent layer's. Keras's own markers, a real trace: each marker is one call of 4
    batches, the traced batches run to the last call's end, and a call's mean over 4 is a batch's."""
    from tfprof_m1 import load_report
    from tfprof_m1.run.fit_callback import ProfileCallback
    from tfprof_m1.views.render import render_text

    model, dataset = _compiled_mnist(batches=16, steps_per_execution=4)
    callback = ProfileCallback(str(tmp_path), trace_steps=StepRange(20, 28), batch_size=32, model_name="spe")
    model.fit(dataset, epochs=2, verbose=0, callbacks=[callback])
    run = load_report(tmp_path / "report.json").run("spe")
    trace = run.trace
    assert trace is not None and trace.batches_per_marker == 4
    text = " ".join(render_text(load_report(tmp_path / "report.json")).split())
    first, last, markers = trace.traced_steps[0], trace.traced_steps[-1] + 3, trace.step_markers
    assert f"traced batches {first}–{last} ({markers} step markers, each a call of 4" in text
    assert "mean marked call" in text and "recurrent layer" not in text
    # Keras fetches each batch inside its own function: no wait on the Python thread, and the
    # report says so rather than let "0.000 ms waiting" read as measured
    assert trace.input_wait_ms == 0 and "no IteratorGetNext on the Python thread" in text
    # the window's 8 batches are 2 calls: markers at the calls' first batches, 4 apart
    assert markers == 2 and trace.traced_steps == [first, first + 4] and last - first + 1 == 8
    # the two measures of the same batches agree once a call is read as 4 of them (measured 3.374
    # against 3.363 ms; before, 4× apart)
    assert 0.5 < trace.step_ms_mean / 4 / trace.timing_step_ms_mean < 2


def test_a_fit_that_raises_leaves_no_session_once_the_callback_is_closed(tmp_path):
    from tfprof_m1.run.fit_callback import ProfileCallback

    class Boom(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 3:
                raise RuntimeError("boom")

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    callback = ProfileCallback(str(tmp_path), trace_steps=StepRange(1, 8))  # within the fit's 8 batches
    with pytest.raises(RuntimeError, match="boom"):
        _fit_on_zeros(model, [callback, Boom()], epochs=1)
    assert callback.window.running  # Keras skipped on_train_end
    callback.close()
    assert not callback.window.running and callback.window.traced_steps == [
        1,
        2,
        3,
    ]  # ours ended batch 3 before Boom raised
    tf.profiler.experimental.start(str(tmp_path / "next"))  # the session was stopped: a new one starts
    tf.profiler.experimental.stop()


def test_every_scalar_written_is_the_reports_own_figure(tmp_path):
    """write_model_run computes nothing: each phase's ms per step (or, for the phases not on every
    step, ms per epoch), each share, and the epoch figures read back from the event files equal
    the report's own values for that epoch; epoch-level phases have no per-step scalar."""
    from tests.report_factory import make_model_run
    from tfprof_m1.base.phases import EPOCH_LEVEL_PHASES
    from tfprof_m1.views.tensorboard_writer import write_model_run

    run = make_model_run(epochs=3)
    write_model_run(tmp_path / "run", run, "# summary")
    tags, accumulator = _scalar_tags(tmp_path / "run")

    def values(tag):
        return {event.step: float(tf.make_ndarray(event.tensor_proto)) for event in accumulator.Tensors(tag)}

    checked = 0
    for epoch in run.epochs:
        step = epoch.index + 1
        for phase in epoch.phases:
            share = values(f"phase_share/{phase.phase}")[step]
            assert share == pytest.approx(phase.share * 100, rel=1e-6)  # in %, as the terminal says
            if phase.phase in EPOCH_LEVEL_PHASES:
                assert f"phase/{phase.phase}_ms_per_step" not in tags
                if phase.total_ms:
                    per_epoch = values(f"phase/{phase.phase}_ms_per_epoch")[step]
                    assert per_epoch == pytest.approx(phase.total_ms, rel=1e-6)
                    checked += 1
            elif phase.step_median_ms is not None:
                per_step = values(f"phase/{phase.phase}_ms_per_step")[step]
                assert per_step == pytest.approx(phase.step_median_ms, rel=1e-6)
                checked += 1
        assert values("epoch/wall_time_s")[step] == pytest.approx(epoch.wall_ms / 1000, rel=1e-6)
        assert values("epoch/examples_per_s")[step] == pytest.approx(epoch.examples_per_s, rel=1e-6)
    assert checked >= 3 * 4
    assert any(tag.endswith("_ms_per_epoch") for tag in tags)
    fit = values("fit/epoch_time_s")
    assert [fit[i + 1] for i in range(len(run.fit.epoch_ms))] == pytest.approx(
        [ms / 1000 for ms in run.fit.epoch_ms]
    )


def test_a_keras_tensorboard_callback_trace_is_read_with_every_profiled_batch(tmp_path):
    """How most users profile: Keras's own TensorBoard callback, read by ``trace`` on its log folder."""
    import json

    import numpy as np

    from tests.conftest import run_cli

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 8)).astype("float32"), rng.integers(0, 2, 64)
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(2)]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    callback = keras.callbacks.TensorBoard(str(tmp_path / "logs"), profile_batch=(2, 4))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[callback])
    result = run_cli("trace", str(tmp_path / "logs"), "--format", "json")  # logs/train holds the trace
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert "Profiled batch" in summary["step_source"]
    steps = summary["traced_steps"]
    assert len(steps) == 3 and steps == list(range(steps[0], steps[0] + 3))  # batches 2, 3 and 4
    assert all(summary["op_ms"].get(phase, 0) > 0 for phase in ("forward", "backward", "optimizer"))
    assert summary["step_ms_mean"] > 0 and len(summary["steps"]) == 3
    table = run_cli("trace", str(tmp_path / "logs"))
    assert "3 step markers: Keras 3's 'Profiled batch' events" in table.stdout


def test_profile_callback_refuses_a_bad_logdir_and_a_trace_past_the_fit_before_training(tmp_path):
    """A logdir under a file, or a trace window after the fit's last batch, is one UserError before
    any batch runs (as the command line refuses them), not a traceback after hours of fit."""
    from tfprof_m1.run.fit_callback import ProfileCallback

    blocker = tmp_path / "a_file.txt"
    blocker.write_text("x")
    with pytest.raises(UserError, match="a_file.txt, which is a file; give a directory"):
        ProfileCallback(str(blocker / "sub"), trace_steps=StepRange(3, 5))
    assert not (blocker.parent / "sub").exists()

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    seen = []

    class Count(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(batch)

    callback = ProfileCallback(str(tmp_path / "runs"), trace_steps=StepRange(500, 510))
    with pytest.raises(
        UserError, match=r"trace_steps 500:510: this fit has only 16 batches \(2 epochs × 8\)"
    ):
        _fit_on_zeros(model, [callback, Count()], epochs=2)
    assert seen == []  # refused before the first batch
    callback.close()
    assert not callback.window.running
    # the command line's rule: a window partly past the end is refused too (it would trace fewer)
    partly = ProfileCallback(str(tmp_path / "runs2"), trace_steps=StepRange(12, 20))
    with pytest.raises(UserError, match=r"trace_steps 12:20: this fit has only 16 batches"):
        _fit_on_zeros(model, [partly], epochs=2)
    partly.close()


def _fit_on_zeros(model, callbacks, epochs):
    """``fit`` of a (4,) -> (2,) model on 64 zero examples in batches of 8 (8 batches an epoch)."""
    model.fit(
        tf.zeros([64, 4]), tf.zeros([64, 2]), batch_size=8, epochs=epochs, verbose=0, callbacks=callbacks
    )
