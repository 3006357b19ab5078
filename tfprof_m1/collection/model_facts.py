"""What a run trained, read from its model and steps when training starts: the mixed-precision
policy the model was built under, XLA, the input dtype, the parameter count and the layers.

Read at the start of training, not when the report is built: research code often restores the
global policy (``set_global_policy("float32")``) after a mixed-precision run, before its report.
``compare`` groups runs by these (see :mod:`tfprof_m1.report.parity`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelFacts:
    """What one model's training ran (None where it cannot be told)."""

    #: The model's dtype policy name (``float32``, ``mixed_float16``...).
    mixed_precision: str | None = None
    loop_jit_compile: bool | None = None
    #: dtype of the input batches (the first input's, for several).
    input_dtype: str | None = None
    #: Trainable and non-trainable weights, counted.
    parameters: int | None = None
    #: Layer kinds in order of first appearance with their counts (``2 Conv2D, 1 Dense``).
    layers: str | None = None


def model_facts(train_steps: Any) -> ModelFacts:
    """The facts of ``train_steps`` (a TrainSteps: its ``model``, ``jit_compile`` and input signature)."""
    model = getattr(train_steps, "model", None)
    return ModelFacts(
        mixed_precision=_policy(model),
        loop_jit_compile=getattr(train_steps, "jit_compile", None),
        input_dtype=_input_dtype(getattr(train_steps, "_signature", None)),
        parameters=_parameters(model),
        layers=layer_summary(model),
    )


def _policy(model: Any) -> str | None:
    policy = getattr(model, "dtype_policy", None)
    name = getattr(policy, "name", None)
    return name if isinstance(name, str) else None


def _parameters(model: Any) -> int | None:
    try:
        return int(model.count_params())
    except Exception:  # an unbuilt or foreign model: not known
        return None


def layer_summary(model: Any) -> str | None:
    """``2 Conv2D, 1 GlobalAveragePooling2D, 1 Dense``: the model's top-level layer kinds and counts."""
    layers = getattr(model, "layers", None)
    if not layers:
        return None
    counts: dict[str, int] = {}
    for layer in layers:
        kind = type(layer).__name__
        counts[kind] = counts.get(kind, 0) + 1
    return ", ".join(f"{count} {kind}" for kind, count in counts.items())


def _input_dtype(signature: Any) -> str | None:
    spec = signature[0] if isinstance(signature, (list, tuple)) and signature else None
    while isinstance(spec, (list, tuple)) and spec:
        spec = spec[0]
    if isinstance(spec, dict) and spec:
        spec = next(iter(spec.values()))
    dtype = getattr(spec, "dtype", None)
    name = getattr(dtype, "name", None)
    return name if isinstance(name, str) else None
