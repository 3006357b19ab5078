"""The parity guard: what actually ran on each side of a comparison, and every difference that
confounds it, worst first, with the figure it affects.

Published M1-against-Colab comparisons are confounded by things no one checked: a batch size or
input path of their own, float64 inputs, ops that fell back to the CPU on tensorflow-metal, XLA on
one side only (Keras turns ``jit_compile`` on for ``fit`` whenever a GPU is present; the custom
loop does not), mixed precision, the executor mode, plugin versions, a throttled or unplugged
laptop. Each report records them (``environment``, ``config``, and each run's ``fingerprint``);
:func:`differences` lists the ones that differ. Pure Python: no TensorFlow.

:data:`CHECKS` is the one list of what makes runs comparable: ``compare`` pools runs as repeats only
when every check that splits agrees (:func:`same_side`), names the sides by what differs
(:func:`side_names`), and lists the differences with :func:`differences`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import cast

from tfprof_m1.report.model import ModelRun, Report

__all__ = [
    "CHECKS",
    "FIT_INPUT_PATH",
    "MACHINE",
    "MODEL",
    "SETTING",
    "STATE",
    "checked_values",
    "differences",
    "differing_checks",
    "same_side",
    "side_names",
]

#: Kinds of check. ``machine``: what a comparison between machines compares (never a confound);
#: ``model``: the model itself; ``setting``: how the run was set up; ``state``: what the machine was
#: seen doing (power, CPU fallbacks), which may change between repeats and never splits them.
MACHINE, MODEL, SETTING, STATE = "machine", "model", "setting", "state"


@dataclass(frozen=True)
class Check:
    """One thing that must match for a like-for-like comparison, and the figures a difference changes."""

    key: str
    label: str
    #: The figures a difference here changes.
    affects: str
    #: machine, model, setting or state (see above): all but ``state`` make runs sides of a comparison
    #: rather than repeats of one another.
    kind: str = SETTING
    #: How a side that differs here is named (``{}`` is the value; booleans read on/off).
    names: str = "{}"

    @property
    def splits(self) -> bool:
        """Whether runs differing here are sides of a comparison, not repeats."""
        return self.kind != STATE


#: The one list of what makes runs comparable: ``compare`` groups runs into repeats with it and
#: names the sides by it, and the parity guard lists its differences. Worst first: a difference early
#: in this list can explain any later one's effect and more; the machine comes last (comparing it is
#: the point of a comparison between machines).
CHECKS = (
    Check("model", "model", "every figure (a different model)", MODEL),
    Check("parameters", "parameter count", "every figure (a different model)", MODEL, "{:,} parameters"),
    Check("layers", "layers", "every figure (a different model)", MODEL),
    Check(
        "cpu_fallback_ops",
        "ops that ran on the CPU during a GPU run",
        "every custom-loop phase (those ops ran on the host)",
        STATE,
    ),
    Check(
        "fit_jit_compile", "XLA in fit (jit_compile)", "the fit epoch: the headline", names="XLA in fit {}"
    ),
    Check(
        "loop_jit_compile",
        "XLA in the custom loop",
        "the custom-loop epoch and its phases",
        names="XLA {}",
    ),
    Check("mixed_precision", "mixed-precision policy", "every figure"),
    Check(
        "distribution",
        "tf.distribute strategy and replicas",
        "every custom-loop figure (all-reduce, per-replica batch)",
    ),
    Check(
        "batch_size",
        "batch size",
        "per-step and per-epoch figures (compare the time per example)",
        names="batch {}",
    ),
    Check("input_dtype", "input dtype", "input and compute", names="{} inputs"),
    Check("input_path", "input pipeline", "input"),
    Check("executor", "eager executor", "sync and the parts' host/device split", names="{} executor"),
    Check(
        "steps_per_execution",
        "steps per execution",
        "per-step figures (several batches per call of the step)",
        names="{} steps per execution",
    ),
    Check("steps_per_epoch", "steps per epoch", "epoch times", names="{} steps an epoch"),
    Check("examples", "training examples", "epoch times", names="{:,} examples"),
    Check("data_source", "data", "input (and the loss)", names="{} data"),
    Check("tensorflow", "TensorFlow version", "every figure", names="TensorFlow {}"),
    Check("keras", "Keras version", "every figure", names="Keras {}"),
    Check("tensorflow_metal", "tensorflow-metal version", "every figure on the Metal side"),
    Check("cuda", "CUDA / cuDNN", "every figure on the CUDA side", names="CUDA {}"),
    Check(
        "power",
        "power and thermal state",
        "every figure (a throttled or battery-powered machine runs slower)",
        STATE,
    ),
    Check("device", "device", "every figure", MACHINE),
    Check("cpu_model", "CPU", "every figure", MACHINE),
    Check("platform", "platform", "every figure", MACHINE),
)
#: Checks that follow from another when that one differs and a third agrees: check -> (cause, kept).
#: Steps per epoch follow from the batch size when the examples agree; and where the examples are
#: counted per epoch (a ``ProfileCallback`` report, which knows no dataset size), they follow from the
#: batch size when the steps per epoch agree (a batch-size A/B of fixed steps: 60 × 32 against 60 × 64).
IMPLIED = {
    "steps_per_epoch": ("batch_size", "examples"),
    "examples": ("batch_size", "steps_per_epoch"),
}


def checked_values(report: Report, run: ModelRun) -> dict[str, object]:
    """What ran, as comparable values, one per :data:`CHECKS` key (None where the report does not know).

    The run's fingerprint is read defensively (a field an older or newer report lacks is not known);
    the model's parameter count and layers come from ``fingerprint.parameters`` and ``.layers``.
    """
    environment, config = report.environment, report.config
    fingerprint = run.fingerprint

    def recorded(name: str) -> object:
        value = getattr(fingerprint, name, None) if fingerprint is not None else None
        return value if value is not None else getattr(config, name, None)

    build = environment.build
    cuda = None
    if build.get("is_cuda_build") == "True":
        cuda = f"{build.get('cuda_version', '?')} / {build.get('cudnn_version', '?')}"
    fallbacks = cast("list[str] | None", recorded("cpu_fallback_ops"))
    power = cast("dict[str, str] | None", recorded("power"))
    return {
        "model": run.model,
        "parameters": recorded("parameters"),
        "layers": recorded("layers"),
        "cpu_fallback_ops": ", ".join(fallbacks) if fallbacks else None,
        "fit_jit_compile": run.fit.jit_compile if run.fit is not None else None,
        "loop_jit_compile": recorded("loop_jit_compile"),
        "mixed_precision": recorded("mixed_precision"),
        "distribution": _distribution(run),
        "batch_size": run.batch_size,
        "input_dtype": recorded("input_dtype"),
        "input_path": _pipeline(recorded("input_path")),
        "executor": "asynchronous" if environment.executor_async else "synchronous",
        "steps_per_execution": recorded("steps_per_execution"),
        "steps_per_epoch": run.steps_per_epoch,
        "examples": run.data.examples if run.data else _epoch_examples(run),
        "data_source": run.data.source if run.data else config.data,
        "tensorflow": environment.tensorflow,
        "keras": environment.keras,
        "tensorflow_metal": environment.tensorflow_metal,
        "cuda": cuda,
        "power": ", ".join(f"{k} {v}" for k, v in sorted(power.items())) if power else None,
        "device": environment.device_label,
        "cpu_model": environment.cpu_model,
        "platform": environment.platform,
    }


#: What a ``ProfileCallback`` report records as its input path: fit's own, with no word of the data
#: it was given, so not a pipeline to compare (a trial read "tf.data.Dataset against Keras fit").
FIT_INPUT_PATH = "Keras fit"


def _pipeline(input_path: object) -> object:
    """How batches were made, without the steps per epoch the loop records with it
    (``tf.data.Dataset, steps_per_epoch 32``): those are a check of their own, and follow from the
    batch size when the examples agree. A fit report's (:data:`FIT_INPUT_PATH`) is not known."""
    if input_path == FIT_INPUT_PATH:
        return None
    if not isinstance(input_path, str):
        return input_path
    return re.sub(r", (steps_per_epoch \d+|to its end)$", "", input_path)


def _epoch_examples(run: ModelRun) -> int | None:
    """Examples per complete epoch, where every complete epoch saw the same number (else not known)."""
    counts = {epoch.examples for epoch in run.epochs if epoch.complete}
    return counts.pop() if len(counts) == 1 else None


def _distribution(run: ModelRun) -> str:
    distribution = run.distribution
    if distribution is None:
        return "one device"
    kind = "logical CPU devices" if distribution.logical_cpu_devices else "devices"
    worker = f", worker {distribution.worker}" if distribution.worker is not None else ""
    return f"{distribution.strategy}, {distribution.replicas} replicas ({kind}){worker}"


def _known_and_different(check: Check, mine: object, theirs: object) -> bool:
    if check.key == "cpu_fallback_ops":  # ops on the CPU on one side count against "none" on the other
        return (mine is not None or theirs is not None) and mine != theirs
    return mine is not None and theirs is not None and mine != theirs


def _implied(check: Check, reference: dict[str, object], other: dict[str, object]) -> bool:
    """Whether this difference follows from another listed one (:data:`IMPLIED`: steps per epoch
    from the batch size when the examples agree, examples from the batch size when the steps per
    epoch agree)."""
    if check.key not in IMPLIED:
        return False
    cause, kept = IMPLIED[check.key]
    return reference.get(cause) != other.get(cause) and reference.get(kept) == other.get(kept)


def differing_checks(reference: dict[str, object], other: dict[str, object]) -> list[Check]:
    """The checks whose values both sides know and that differ, in :data:`CHECKS` order (worst first),
    without those that follow from another (:data:`IMPLIED`)."""
    return [
        check
        for check in CHECKS
        if _known_and_different(check, reference.get(check.key), other.get(check.key))
        and not _implied(check, reference, other)
    ]


def same_side(reference: dict[str, object], other: dict[str, object]) -> bool:
    """Whether two runs are repeats of one another: every check that splits agrees where both know it."""
    return not any(check.splits for check in differing_checks(reference, other))


def differences(reference: dict[str, object], other: dict[str, object]) -> list[str]:
    """One line per check whose values differ, worst first: what, both values, what it affects.

    The machine is not listed (comparing machines is what ``compare`` is for). A value one side does
    not know (an older report, research code that did not say, an OS that exposes no power state) is
    not a difference; ops that fell back to the CPU on one side count against "none" on the other.
    """
    return [
        f"{check.label}: {_show(reference.get(check.key))} against {_show(other.get(check.key))}; "
        f"affects {check.affects}"
        for check in differing_checks(reference, other)
        if check.kind != MACHINE
    ]


def side_names(sides: list[dict[str, object]]) -> list[str] | None:
    """Names for sides that are not repeats of one another, from what differs between them
    (``mixed_float16`` and ``float32``; ``batch 32`` and ``batch 64``; the device label), or None
    when what differs cannot name them apart."""
    differing = {check for a in sides for b in sides for check in differing_checks(a, b)}
    keys = [check for check in CHECKS if check.splits and check in differing]
    machine = [check for check in keys if check.kind == MACHINE]
    model = [check for check in keys if check.kind == MODEL]
    if machine:  # between machines, the machine names a side (its other differences are confounds)
        keys = machine[:1]
    elif model:  # a model by its first differing trait (its name, else its size), then the settings
        keys = model[:1] + [check for check in keys if check.kind != MODEL]
    if not keys:
        return None
    names = [", ".join(_name(check, side.get(check.key)) for check in keys) for side in sides]
    return names if len(set(names)) == len(names) else None


def _name(check: Check, value: object) -> str:
    if value is None:
        return f"{check.label} not known"
    if check.key == "distribution":  # "mirrored ×2", "multiworker worker 1", "one device"
        match = re.match(r"(\w+), (\d+) replicas[^,]*(?:, worker (\d+))?", str(value))
        if match:
            strategy, replicas, worker = match.groups()
            return f"{strategy} worker {worker}" if worker is not None else f"{strategy} ×{replicas}"
    if isinstance(value, bool):
        return check.names.format("on" if value else "off")
    try:
        named = check.names.format(value)
    except (ValueError, TypeError):
        return str(value)
    if value == 1:  # "1 step per execution", "1 parameter" (booleans were named above)
        named = re.sub(r"^([\d,]+ \w+?)s\b", r"\1", named)
    return named


def _show(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
