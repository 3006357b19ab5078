"""A step TrainSteps cannot express (a GAN: two models, two optimizers, gradient clipping), profiled
with the public profiler API: fused steps, split steps with nested custom phases that own their
device time, a report through public names, and the phases as annotations in the trace."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import REPO
from tfprof_m1 import (
    PhaseProfiler,
    StepRange,
    TraceWindow,
    build_report,
    detect_fence_kind,
    make_fence,
    render,
)
from tfprof_m1.trace.xplane import find_xplane_files, read_xspace

pytestmark = [pytest.mark.tf]


def _example_gan():
    """The GAN of examples/gan_step.py: the test profiles the example's own step code."""
    spec = importlib.util.spec_from_file_location("gan_step", REPO / "examples" / "gan_step.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Gan(), module.NOISE


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    gan, noise_size = _example_gan()
    real = tf.data.Dataset.from_tensor_slices(
        np.random.default_rng(0).normal(size=(32 * 16, 784)).astype("float32")
    ).batch(32)
    profiler = PhaseProfiler(
        fence=make_fence(detect_fence_kind(), lambda: gan.generator.trainable_variables[-1])
    )
    logdir = tmp_path_factory.mktemp("gan")
    step = 0
    with TraceWindow(logdir, StepRange(20, 24), profiler) as window:
        for _ in range(2):
            with profiler.epoch():
                for index, batch in enumerate(profiler.timed(real)):
                    noise = tf.random.normal([32, noise_size])
                    with (
                        window.step(step),
                        profiler.step(kind="split" if index % 4 == 1 else "fused", examples=32),
                    ):
                        if index % 4 == 1:
                            gan.split(batch, noise, profiler)
                        else:
                            profiler.call("compute", gan.fused, batch, noise)
                    step += 1
    return profiler, window, logdir


def test_custom_phases_attribute_fused_steps_and_add_up(gan_run, tmp_path):
    profiler, window, _ = gan_run
    report = build_report(profiler, model="gan", trace=window)
    run = report.run("gan")
    assert run.custom_phases == [
        "discriminator",
        "discriminator/forward",
        "discriminator/backward",
        "discriminator/clip",
        "discriminator/optimizer",
        "generator",
        "generator/forward",
        "generator/backward",
        "generator/optimizer",
    ]
    steady = run.epochs[1]
    assert steady.proportions_source == "pooled" and set(steady.proportions) == set(run.custom_phases)
    shown = [phase.phase for phase in run.steady.phases]
    assert shown[0] == "input" and "compute" not in shown and "forward" not in shown and shown[-1] == "other"
    assert shown.index("discriminator/clip") < shown.index("generator/forward")  # the order first seen
    for epoch in run.epochs:
        assert sum(phase.total_ms for phase in epoch.phases) == pytest.approx(epoch.wall_ms)
        # every step (fused ones too) carries a clip share: the split steps' proportion scaled to them
        assert all(value > 0 for value in epoch.step_ms["discriminator/clip"])
    # every part of a split step was fenced (sync=True): seven fences' own cost is in sync
    split_step = profiler.epochs[1].steps[1]
    assert (
        split_step.kind == "split"
        and split_step.phases_ms["sync"] > profiler.epochs[1].steps[0].phases_ms["sync"]
    )
    assert "own phases: discriminator" in render(report)
    assert "own phases" in report.method and "split steps" in report.method
    # compare and plot take it in memory, beside a copy that ran twice as slow
    from tfprof_m1 import Report, compare, plot_reports

    slower = Report.from_dict(report.to_dict())
    slower.environment.device_label = "slower"
    for epoch in slower.runs[0].epochs:
        epoch.wall_ms *= 2
        epoch.step_ms = {phase: [value * 2 for value in values] for phase, values in epoch.step_ms.items()}
        for phase in epoch.phases:  # the profiler's phases too: compare takes its cost out
            phase.total_ms *= 2
    (comparison,) = compare([report, slower])
    assert comparison.differences[0].epoch_ratio.point == pytest.approx(2.0, rel=1e-6)
    assert plot_reports([report, slower], tmp_path / "gan.png").stat().st_size > 1000


def test_the_trace_attributes_op_time_to_the_loops_own_scopes(gan_run):
    profiler, window, _ = gan_run
    report = build_report(
        profiler,
        model="gan",
        trace=window,
        scope_phases={"generator": "generator", "discriminator": "discriminator"},
    )
    shares = report.run("gan").trace.shares
    # the models' ops (forward and backward) go to their scopes; the losses and optimizers keep the built-in
    # rules
    assert shares["generator"] > 0.1 and shares["discriminator"] > 0.1
    assert shares["generator"] + shares["discriminator"] > shares.get("forward", 0) + shares.get(
        "backward", 0
    )
    assert "generator" not in build_report(profiler, model="gan", trace=window).run("gan").trace.shares


def test_each_phase_is_an_annotation_in_the_trace(gan_run):
    _, window, logdir = gan_run
    assert window.traced_steps == [20, 21, 22, 23] and not window.running
    names = set()
    for path in find_xplane_files(logdir):
        for plane in read_xspace(path).planes:
            names |= {metadata.name for metadata in plane.event_metadata.values()}
    assert {"discriminator/clip", "generator/backward", "compute", "input"} <= names
