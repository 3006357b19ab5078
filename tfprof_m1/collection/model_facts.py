"""What tells two models apart, read from a Keras model: its parameter count and its layers.

With the model's name, ``compare`` uses these to keep runs of different models apart (a wider
model under the same name is another side, never a repeat; see :mod:`tfprof_m1.analysis.parity`).
Duck-typed: no TensorFlow import.
"""

from __future__ import annotations

from tfprof_m1.base.tf_types import KerasModel

__all__ = ["layer_summary", "parameter_count"]


def parameter_count(model: KerasModel) -> int | None:
    """The model's weights, trainable and not, counted; None for an unbuilt or foreign model."""
    try:
        return int(model.count_params())
    except Exception:  # an unbuilt model raises; anything else: not known
        return None


def layer_summary(model: KerasModel) -> str | None:
    """``2 Conv2D, 1 GlobalAveragePooling2D, 1 Dense``: the model's top-level layer kinds with their
    counts, in order of first appearance; None for a model without layers."""
    layers = getattr(model, "layers", None)
    if not layers:
        return None
    counts: dict[str, int] = {}
    for layer in layers:
        kind = type(layer).__name__
        counts[kind] = counts.get(kind, 0) + 1
    return ", ".join(f"{count} {kind}" for kind, count in counts.items())
