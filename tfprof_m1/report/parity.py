"""The parity guard: what actually ran on each side of a comparison, and every difference that
confounds it, worst first, with the figure it affects.

Published M1-against-Colab comparisons are confounded by things no one checked: a batch size or
input path of their own, float64 inputs, ops that fell back to the CPU on tensorflow-metal, XLA on
one side only (Keras turns ``jit_compile`` on for ``fit`` whenever a GPU is present; the custom
loop does not), mixed precision, the executor mode, plugin versions, a throttled or unplugged
laptop. Each report records them (``environment``, ``config``, and each run's ``fingerprint``);
:func:`differences` lists the ones that differ. Pure Python: no TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass

from tfprof_m1.report.model import ModelRun, Report


@dataclass(frozen=True)
class Check:
    """One thing that must match for a like-for-like comparison, and the figures a difference changes."""

    key: str
    label: str
    #: The figures a difference here changes.
    affects: str


#: Worst first: a difference early in this list can explain any later one's effect and more.
CHECKS = (
    Check(
        "cpu_fallback_ops",
        "ops that ran on the CPU during a GPU run",
        "every custom-loop phase (those ops ran on the host)",
    ),
    Check("fit_jit_compile", "XLA in fit (jit_compile)", "the fit epoch: the headline"),
    Check("loop_jit_compile", "XLA in the custom loop", "the custom-loop epoch and its phases"),
    Check("mixed_precision", "mixed-precision policy", "every figure"),
    Check(
        "distribution",
        "tf.distribute strategy and replicas",
        "every custom-loop figure (all-reduce, per-replica batch)",
    ),
    Check("batch_size", "batch size", "per-step and per-epoch figures (compare the time per example)"),
    Check("input_dtype", "input dtype", "input and compute"),
    Check("input_path", "input pipeline", "input"),
    Check("executor", "eager executor", "sync and the parts' host/device split"),
    Check("steps_per_epoch", "steps per epoch", "epoch times"),
    Check("examples", "training examples", "epoch times"),
    Check("data_source", "data", "input (and the loss)"),
    Check("tensorflow", "TensorFlow version", "every figure"),
    Check("keras", "Keras version", "every figure"),
    Check("tensorflow_metal", "tensorflow-metal version", "every figure on the Metal side"),
    Check("cuda", "CUDA / cuDNN", "every figure on the CUDA side"),
    Check(
        "power",
        "power and thermal state",
        "every figure (a throttled or battery-powered machine runs slower)",
    ),
)


def describe(report: Report, run: ModelRun) -> dict[str, object]:
    """What ran, as comparable values (None where the report does not know)."""
    environment, fingerprint = report.environment, run.fingerprint
    build = environment.build
    cuda = None
    if build.get("is_cuda_build") == "True":
        cuda = f"{build.get('cuda_version', '?')} / {build.get('cudnn_version', '?')}"
    return {
        "cpu_fallback_ops": ", ".join(fingerprint.cpu_fallback_ops)
        if fingerprint and fingerprint.cpu_fallback_ops
        else None,
        "fit_jit_compile": run.fit.jit_compile if run.fit is not None else None,
        "loop_jit_compile": fingerprint.loop_jit_compile if fingerprint else None,
        "mixed_precision": fingerprint.mixed_precision if fingerprint else None,
        "distribution": _distribution(run),
        "batch_size": run.batch_size,
        "input_dtype": fingerprint.input_dtype if fingerprint else None,
        "input_path": fingerprint.input_path if fingerprint else None,
        "executor": "asynchronous" if environment.executor_async else "synchronous",
        "steps_per_epoch": run.steps_per_epoch,
        "examples": run.data.examples if run.data else None,
        "data_source": run.data.source if run.data else report.config.data,
        "tensorflow": environment.tensorflow,
        "keras": environment.keras,
        "tensorflow_metal": environment.tensorflow_metal,
        "cuda": cuda,
        "power": ", ".join(f"{k} {v}" for k, v in sorted(fingerprint.power.items()))
        if fingerprint and fingerprint.power
        else None,
    }


def _distribution(run: ModelRun) -> str:
    spread = run.distribution
    if spread is None:
        return "one device"
    kind = "logical CPU devices" if spread.logical_cpu_devices else "devices"
    return f"{spread.strategy}, {spread.replicas} replicas ({kind})"


def differences(reference: dict[str, object], other: dict[str, object]) -> list[str]:
    """One line per check whose values differ, worst first: what, both values, what it affects.

    A value one side does not know (an older report, research code that did not say, an OS that
    exposes no power state) is not a difference; ops that fell back to the CPU on one side count
    against "none" on the other.
    """
    lines = []
    for check in CHECKS:
        mine, theirs = reference.get(check.key), other.get(check.key)
        known = (
            (mine is not None or theirs is not None)
            if check.key == "cpu_fallback_ops"
            else (mine is not None and theirs is not None)
        )
        if known and mine != theirs:
            lines.append(f"{check.label}: {_show(mine)} against {_show(theirs)}; affects {check.affects}")
    return lines


def _show(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)
