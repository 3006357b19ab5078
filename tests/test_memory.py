"""Memory per epoch: what TensorFlow's allocator answers on each kind of device, host RSS, growth."""

from __future__ import annotations

import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfprof_m1.analysis.assemble import build_report
from tfprof_m1.collection.fence import HOST_READ, make_fence
from tfprof_m1.collection.loop import Sampling, run_profiled_loop
from tfprof_m1.collection.memory import growth_warning, host_rss_mb, interpret_device_info, sample_memory
from tfprof_m1.collection.profiler import PhaseProfiler
from tfprof_m1.collection.steps import TrainSteps
from tfprof_m1.views.render import render_text
from tfprof_m1.workloads.datasets import synthetic
from tfprof_m1.workloads.models import build_model, get_spec
from tfprof_m1.workloads.pipeline import make_dataset

LINUX = sys.platform.startswith("linux")
pytestmark = [pytest.mark.tf]


def test_the_allocators_answers_recorded_on_each_kind_of_device():
    # CUDA: bytes (a recorded answer's shape; this machine has no GPU)
    assert interpret_device_info({"current": 512 * 2**20, "peak": 768 * 2**20}) == (512.0, 768.0, None)
    # tensorflow-metal (a PluggableDevice) answers zeros: not "0 MB"
    current, peak, note = interpret_device_info({"current": 0, "peak": 0})
    assert current is None and peak is None and "tensorflow-metal" in note
    # most CPU builds raise; some (AMD EPYC Linux) answer bytes, zeros in a fresh process:
    current, peak, note = interpret_device_info(
        ValueError("Allocator stats not available for device 'CPU:0'"), "CPU:0"
    )
    assert current is None and "Allocator stats not available" in note
    assert interpret_device_info({"current": 3 * 2**20, "peak": 5 * 2**20}, "CPU:0") == (3.0, 5.0, None)
    current, peak, note = interpret_device_info({"current": 0, "peak": 0}, "CPU:0")
    assert current is None and "CPU:0 allocator reports no bytes" in note and "metal" not in note
    # this machine, whichever kind its CPU allocator is: figures or a note, never the Metal note on a CPU
    memory, real_note = sample_memory()
    if not tf.config.list_physical_devices("GPU"):
        assert (memory.device_current_mb is not None) != (real_note is not None)
        assert real_note is None or "PluggableDevices" not in real_note
    assert (memory.host_rss_mb is not None) == LINUX  # the current RSS is read from /proc
    assert memory.host_rss_mb is None or memory.host_rss_mb > 50


def test_growth_is_flagged_by_its_slope_not_by_noise():
    assert growth_warning("host memory", [800, 801, 799, 802], [1, 2, 3, 4]) is None
    line = growth_warning("host memory", [800, 840, 881, 920], [1, 2, 3, 4])
    assert line.startswith(
        "host memory grew 40.1 MiB per epoch over epochs 2–5 (800 → 920 MiB)"
    )  # least squares
    assert growth_warning("host memory", [800, 900], [1, 2]) is None  # two points are no trend
    assert growth_warning("device memory", [None, None, None], [1, 2, 3]) is None


@pytest.mark.skipif(not LINUX, reason="the current host RSS is read from /proc (macOS gives only the peak)")
def test_the_loop_records_memory_after_every_epoch_and_the_report_shows_it():
    spec = get_spec("mnist")
    dataset = make_dataset(synthetic(spec, seed=0, examples=160), batch_size=32, seed=0)
    steps = TrainSteps(
        build_model(spec, seed=1),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        keras.optimizers.Adam(),
        dataset.element_spec,
    )
    hoard = []  # memory the test keeps growing between epochs, 64 MiB each

    def grow(result):
        hoard.append(np.ones(64 * 2**20 // 8))

    results = run_profiled_loop(
        steps,
        dataset,
        epochs=4,
        steps_per_epoch=5,
        on_epoch_end=grow,
        profiler=PhaseProfiler(fence=make_fence(HOST_READ, lambda: steps.variables[-1])),
        sampling=Sampling(every=2, min_samples=0, reference_share=0.0),
    )
    report = build_report(results, model="mnist")
    rss = [epoch.memory.host_rss_mb for epoch in report.runs[0].epochs]
    assert all(value is not None for value in rss)
    # each epoch's sample is taken before on_epoch_end grows the hoard: the later epochs see the growth
    assert rss[3] - rss[1] == pytest.approx(128, abs=20)
    assert any(w.startswith("loop: host memory (RSS) grew") for w in report.runs[0].warnings)
    assert "memory after each loop epoch: host RSS" in render_text(report)
    assert host_rss_mb() > rss[0]
