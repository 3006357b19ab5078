"""The one steady-epoch rule: which epochs the steady-state figures use.

Steady state is the complete epochs less each run's first (warm-up: tracing, pipeline start), or
every complete epoch when the first is the only one; a cut-short epoch is never steady state. The
rule is applied once, when a report is assembled (:func:`steady_epochs`, which the report stores as
``steady.epochs``); everything that reads a report later (compare, merge, scaling, the sweep) takes
that recorded choice (:func:`recorded_steady_epochs`), so old reports are read as they were made.
Keras ``fit`` is timed per epoch only: its steady epochs are all but the first
(:attr:`~tfprof_m1.report.model.FitReport.steady_epoch_ms`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from tfprof_m1.report.model import EpochReport, ModelRun

__all__ = ["recorded_steady_epochs", "steady_epochs"]


class _Epoch(Protocol):
    @property
    def complete(self) -> bool: ...

    @property
    def is_warmup(self) -> bool: ...


E = TypeVar("E", bound=_Epoch)


def steady_epochs(epochs: Sequence[E]) -> list[E]:
    """The epochs steady-state figures use (measured epochs: ``EpochTiming`` or ``EpochBreakdown``):
    complete ones, each run's warm-up left out when others exist; none when no epoch ran to its end
    (a stop in epoch 1: a cut-short epoch is never steady state)."""
    complete = [epoch for epoch in epochs if epoch.complete]
    return [epoch for epoch in complete if not epoch.is_warmup] or complete


def recorded_steady_epochs(run: ModelRun) -> list[EpochReport]:
    """The run's steady epochs as its report recorded them (``steady.epochs``), in order, complete
    ones only (an older report's interrupted epoch never counts)."""
    chosen = set(run.steady.epochs)
    return [epoch for epoch in run.epochs if epoch.index in chosen and epoch.complete]
