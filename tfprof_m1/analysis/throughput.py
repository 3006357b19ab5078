"""Achieved FLOP/s against the device's measured matmul peak, read from a saved report.

FLOPs are counted, not measured: the report's ``forward_flops_per_example`` (2 × multiply-adds of
the Dense and Conv2D layers, see models.py) times the batch, and ``backward_flops_per_example`` (a
weight gradient per layer and an input gradient per layer but the first), or 2 × forward where a
report does not have it; a training step is forward plus backward; the optimizer's elementwise
update is not counted. TensorFlow's own graph profiler agrees within 1 % on forward
(benchmarks/flops_check.py). Times are the steady state's
device-inclusive medians: forward and backward from the probe samples, the step from every step.
The peak is the float32 1024² matmul the environment measured on the same device, so a share says
how much of *this* machine the model uses ("Metal runs this model at 12 % of its own peak, CUDA at
40 %"). Pure Python: no TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass

from tfprof_m1.base.phases import BACKWARD, FORWARD
from tfprof_m1.collection.environment import Environment
from tfprof_m1.report.model import ModelRun

__all__ = ["Throughput", "achieved", "achieved_text", "share_text"]

#: Backward FLOPs per forward FLOP where a report does not count them (a weight and an input gradient).
BACKWARD_FLOPS_PER_FORWARD = 2


@dataclass(frozen=True)
class Throughput:
    """Achieved GFLOP/s, and shares of the measured peak (None where a figure is missing)."""

    forward_gflops_per_step: float
    step_gflops: float | None
    forward_gflops: float | None
    backward_gflops: float | None
    peak_gflops: float | None
    #: Whether backward FLOPs were counted per layer (else taken as 2 × forward).
    backward_counted: bool = False

    def share(self, gflops: float | None) -> float | None:
        """``gflops`` as a share of the measured matmul peak, or None without a peak."""
        if gflops is None or not self.peak_gflops:
            return None
        return gflops / self.peak_gflops


def achieved(run: ModelRun, environment: Environment) -> Throughput | None:
    """The run's achieved throughput, or None when its FLOPs or batch size are not known."""
    if not run.forward_flops_per_example or not run.batch_size:
        return None
    forward_gflop = run.forward_flops_per_example * run.batch_size / 1e9
    backward_gflop = (
        run.backward_flops_per_example * run.batch_size / 1e9
        if run.backward_flops_per_example
        else BACKWARD_FLOPS_PER_FORWARD * forward_gflop
    )
    parts = {part.part: part.ms for part in run.steady.parts}

    def rate(gflop: float, ms: float | None) -> float | None:
        return gflop / (ms / 1000.0) if ms and ms > 0 else None

    return Throughput(
        forward_gflops_per_step=forward_gflop,
        step_gflops=rate(forward_gflop + backward_gflop, run.steady.step_median_ms),
        forward_gflops=rate(forward_gflop, parts.get(FORWARD)),
        backward_gflops=rate(backward_gflop, parts.get(BACKWARD)),
        backward_counted=run.backward_flops_per_example is not None,
        peak_gflops=environment.matmul_peak_gflops,
    )


def share_text(share: float | None, suffix: str = "") -> str:
    """`` (12.3 % of peak)``, or for a share above 100 % `` (130 % of peak: above the measured peak, a
    noisy peak measurement)``: the peak is measured again on each run, and a busy machine measures
    it low, so a share above it is not a fact about the model. Empty without a share."""
    if share is None:
        return ""
    if share > 1:
        return f" ({share * 100:.0f} %{suffix}: above the measured peak, a noisy peak measurement)"
    return f" ({share * 100:.1f} %{suffix})"


def achieved_text(throughput: Throughput) -> str:
    """One line: step, forward and backward GFLOP/s with their shares of the peak."""

    def figure(name: str, gflops: float | None) -> str | None:
        if gflops is None:
            return None
        return f"{name} {gflops:,.1f} GFLOP/s" + share_text(throughput.share(gflops), " of peak")

    items = [
        item
        for item in (
            figure("training step", throughput.step_gflops),
            figure("forward", throughput.forward_gflops),
            figure("backward", throughput.backward_gflops),
        )
        if item
    ]
    peak = (
        f"the measured float32 matmul peak {throughput.peak_gflops:,.1f} GFLOP/s"
        if throughput.peak_gflops
        else "no measured peak (--no-peak)"
    )
    backward = "backward counted per layer" if throughput.backward_counted else "backward taken as 2× forward"
    return (
        f"achieved: {', '.join(items)}; against {peak}; {throughput.forward_gflops_per_step:.3f} "
        "GFLOP forward "
        f"per step, counted (Dense and Conv2D), {backward}"
    )
