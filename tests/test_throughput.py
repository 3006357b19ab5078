"""Achieved FLOP/s and share of the measured peak, read from reports (no TensorFlow)."""

from __future__ import annotations

import pytest

from tests.report_factory import make_report
from tfprof_m1.analysis.compare import compare
from tfprof_m1.analysis.throughput import achieved
from tfprof_m1.views.compare_render import render_comparison
from tfprof_m1.views.render import render_text


def test_achieved_flops_are_counted_flops_over_measured_time_and_a_share_of_the_peak():
    report = make_report("cpu", epochs=4)
    report.environment.matmul_peak_gflops = 100.0
    run = report.runs[0]
    throughput = achieved(run, report.environment)
    forward_gflop = run.forward_flops_per_example * run.batch_size / 1e9
    forward_ms = (
        next(part.ms for part in run.steady.parts if part.part == "forward") if run.steady.parts else None
    )
    assert throughput.forward_gflops_per_step == pytest.approx(forward_gflop)
    backward_gflop = 2 * forward_gflop  # the factory's run counts no backward FLOPs: taken as 2× forward
    assert throughput.step_gflops == pytest.approx(
        (forward_gflop + backward_gflop) / (run.steady.step_median_ms / 1000)
    )
    assert throughput.share(throughput.step_gflops) == pytest.approx(throughput.step_gflops / 100.0)
    if forward_ms:
        assert throughput.forward_gflops == pytest.approx(forward_gflop / (forward_ms / 1000))
    assert "% of peak" in render_text(report) and "backward taken as 2× forward" in render_text(report)


def test_no_flops_no_figure_and_no_peak_is_said():
    report = make_report("cpu")
    report.runs[0].forward_flops_per_example = None
    assert achieved(report.runs[0], report.environment) is None
    assert "achieved:" not in render_text(report)
    counted = make_report("cpu")
    counted.environment.matmul_peak_gflops = None
    assert "no measured peak" in render_text(counted)


def test_compare_shows_each_machines_share_of_its_own_peak():
    fast = make_report("cuda:T4", epochs=4)
    fast.environment.matmul_peak_gflops = 8000.0
    slow = make_report("metal:M1", scale=2.0, epochs=4)
    slow.environment.matmul_peak_gflops = 2000.0
    comparison = compare([fast, slow])
    text = render_comparison(comparison)
    row = next(line for line in text.splitlines() if line.startswith("training step GFLOP/s"))
    t4, m1 = (f.throughput for f in comparison[0].figures)
    assert (
        f"({t4.share(t4.step_gflops) * 100:.1f} %)" in row
        and f"({m1.share(m1.step_gflops) * 100:.1f} %)" in row
    )
    assert m1.share(m1.step_gflops) > t4.share(t4.step_gflops)  # half the speed on a quarter of the peak


def test_backward_flops_are_counted_per_layer_and_agree_with_tensorflows_profiler_figures():
    """Backward = a weight gradient per layer + an input gradient per layer but the first: the MNIST
    model's first Dense layer holds nearly all its FLOPs, so its backward is about 1× forward, not 2×
    (TensorFlow's graph profiler measured 1.01×; benchmarks/flops_check.py)."""
    from tfprof_m1.workloads.models import get_spec

    mnist, cifar = get_spec("mnist"), get_spec("cifar10")
    assert mnist.backward_flops_per_example / mnist.forward_flops_per_example == pytest.approx(1.01, abs=0.01)
    assert cifar.backward_flops_per_example / cifar.forward_flops_per_example == pytest.approx(
        2.218, abs=0.001
    )
    report = make_report("cpu", epochs=4)
    report.runs[0].backward_flops_per_example = report.runs[0].forward_flops_per_example
    throughput = achieved(report.runs[0], report.environment)
    forward_gflop = report.runs[0].forward_flops_per_example * 32 / 1e9
    assert throughput.step_gflops == pytest.approx(
        2 * forward_gflop / (report.runs[0].steady.step_median_ms / 1000)
    )
    assert "backward counted per layer" in render_text(report)
