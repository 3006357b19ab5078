"""What one Keras ``fit`` run measured, as a plain record (no Keras import: reports load it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tfprof_m1.collection.memory import MemoryUse

__all__ = ["FitRun"]


@dataclass
class FitRun:
    """Raw figures of one ``fit`` run."""

    epoch_ms: list[float]
    losses: list[float | None]
    accuracies: list[float | None]
    jit_compile: bool
    memory: list[MemoryUse] = field(default_factory=list)
