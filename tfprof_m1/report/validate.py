"""A report read from a file is data from outside: checked as such before any view sees it.

Two passes, both naming the field they refuse:

- :func:`clean_json` on the parsed JSON: every number finite and below :data:`MAX_MAGNITUDE`
  (``1e999`` parses as infinity), every string made printable (control characters such as a
  terminal's ESC, and lone surrogates that no encoder accepts, are shown as ``\\x1b`` and
  ``\\udcff`` escapes rather than reaching the terminal or crashing an encoder).
- :func:`check_plausible` on the typed report: values no run can produce (a batch of -32, a
  negative step time, two epochs with one index, a fit epoch of zero seconds, worker 7 of a
  2-worker cluster) are refused.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tfprof_m1.report.interval import Interval
    from tfprof_m1.report.model import ModelRun, Report

__all__ = ["MAX_MAGNITUDE", "check_plausible", "clean_json", "printable"]

#: No figure a run records reaches this (10^18 ms is 30 million years; 10^18 bytes an exabyte).
MAX_MAGNITUDE = 1e18


def printable(text: str) -> str:
    """``text`` with every character that is not printable (bar newline and tab) escaped as Python
    writes it (``\\x1b``, ``\\u202e``, a lone surrogate as ``\\udcff``), so it can be printed to any
    terminal and encoded as UTF-8."""
    if text.isprintable():
        return text
    return "".join(
        char if char.isprintable() or char in "\n\t" else repr(char)[1:-1] if char != "'" else char
        for char in text
    )


def clean_json(value: Any, where: str = "report") -> Any:
    """``value`` (parsed JSON) with its strings made :func:`printable`.

    Raises:
        ValueError: a number that is not finite or whose magnitude is :data:`MAX_MAGNITUDE` or more,
            naming its field (``runs[0].epochs[1].wall_ms``).
    """
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or abs(value) >= MAX_MAGNITUDE:
            raise ValueError(f"{where} is {value!r}, not a figure any run records")
        return value
    if isinstance(value, list):
        runs = _clean_runs(value)
        if runs is not None:
            return runs
        return [clean_json(item, f"{where}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, dict):
        return {printable(str(key)): clean_json(item, f"{where}.{key}") for key, item in value.items()}
    return value


def _clean_runs(value: list[Any]) -> list[Any] | None:
    """A list of ``[name, count]`` pairs (a report's step kinds as runs, thousands long) cleaned in
    one pass over its few distinct names, or None when ``value`` is not such a list (or a count is
    out of bounds: the item by item walk then names it)."""
    if len(value) < 2 or not all(
        type(item) is list and len(item) == 2 and type(item[0]) is str and type(item[1]) is int
        for item in value
    ):
        return None
    if max(abs(item[1]) for item in value) >= MAX_MAGNITUDE:
        return None
    names = {item[0] for item in value}
    if all(name.isprintable() for name in names):
        return list(value)  # the pairs are not changed: shared with the parsed JSON
    clean = {name: printable(name) for name in names}
    return [[clean[name], count] for name, count in value]


def _require(ok: bool, field: str, value: object, expected: str) -> None:
    if not ok:
        raise ValueError(f"{field} is {value!r}, {expected}")


def check_plausible(report: Report) -> None:
    """Refuse values no run can produce, naming the first bad field.

    Raises:
        ValueError: ``runs[MODEL].FIELD is VALUE, EXPECTED``.
    """
    for run in report.runs:
        where = f"runs[{run.model}]"
        _check_run(run, where)
        _check_steady(run, where)


def _check_run(run: ModelRun, where: str) -> None:
    _require(
        run.batch_size is None or run.batch_size >= 1, f"{where}.batch_size", run.batch_size, "not 1 or more"
    )
    _require(run.steps_per_epoch >= 0, f"{where}.steps_per_epoch", run.steps_per_epoch, "not 0 or more")
    seen: set[int] = set()
    for epoch in run.epochs:
        here = f"{where}.epochs[{epoch.index}]"
        _require(
            epoch.index >= 0 and epoch.index not in seen,
            f"{here}.index",
            epoch.index,
            "not a new index from 0",
        )
        seen.add(epoch.index)
        for name in ("steps", "sampled_steps", "examples"):
            _require(getattr(epoch, name) >= 0, f"{here}.{name}", getattr(epoch, name), "not 0 or more")
        for phase, values in epoch.step_ms.items():
            low = float(np.min(np.asarray(values, dtype=float))) if len(values) else 0.0
            _require(low >= 0, f"{here}.step_ms[{phase}]", low, "a negative time")
        for summary in epoch.phases:
            _require(
                summary.total_ms >= 0,
                f"{here}.phases[{summary.phase}].total_ms",
                summary.total_ms,
                "a negative time",
            )
    for summary in run.steady.phases:
        _require(
            -1.0 <= summary.share <= 2.0,
            f"{where}.steady.phases[{summary.phase}].share",
            summary.share,
            "not a share of an epoch",
        )
    if run.fit is not None:
        low = min(run.fit.epoch_ms, default=1.0)
        _require(low > 0, f"{where}.fit.epoch_ms", low, "not a positive time")
    if run.scaling is not None:
        rates = [
            run.scaling.examples_per_s,
            run.scaling.baseline_examples_per_s,
            *run.scaling.baseline_epoch_examples_per_s,
        ]
        _require(min(rates) > 0, f"{where}.scaling", min(rates), "not a positive throughput")
    distribution = run.distribution
    if distribution is not None:
        _require(
            distribution.replicas >= 1,
            f"{where}.distribution.replicas",
            distribution.replicas,
            "not 1 or more",
        )
        if distribution.worker is not None:
            _require(
                0 <= distribution.worker < len(distribution.workers),
                f"{where}.distribution.worker",
                distribution.worker,
                f"not one of the {len(distribution.workers)} workers of its cluster",
            )


def _check_interval(interval: Interval, field: str) -> None:
    """An interval's low bound at or below its high one: the other way round is no interval any
    estimate produces, and a view would print it as one."""
    _require(
        interval.low <= interval.high, field, interval, "an interval whose low bound is above its high one"
    )


def _check_steady(run: ModelRun, where: str) -> None:
    """The run's figures with intervals (the report's only ones: the profiling cost's ratio, the
    parts' shares, the scaling efficiency): every interval ordered, the profiling cost's counts and
    times positive, the shares within 0-1."""
    cost = run.steady.profiling_cost
    if cost is not None:
        here = f"{where}.steady.profiling_cost"
        for name in ("blocks", "stretches"):
            _require(getattr(cost, name) >= 1, f"{here}.{name}", getattr(cost, name), "not 1 or more")
        for name in ("profiled_step_ms", "unprofiled_step_ms", "unprofiled_epoch_ms"):
            value = getattr(cost, name)
            _require(value > 0, f"{here}.{name}", value, "not a positive time")
        ratio = cost.ratio
        _check_interval(ratio, f"{here}.ratio")
        _require(min(ratio.point, ratio.low) > 0, f"{here}.ratio", ratio, "not a positive ratio")
    for part in run.steady.parts:
        for name in ("share", "math_share"):
            share = getattr(part, name)
            if share is not None:
                field = f"{where}.steady.parts[{part.part}].{name}"
                _check_interval(share, field)
                _require(0 <= share.low and share.high <= 1, field, share, "not a share between 0 and 1")
    if run.scaling is not None and run.scaling.efficiency_interval is not None:
        _check_interval(run.scaling.efficiency_interval, f"{where}.scaling.efficiency_interval")
