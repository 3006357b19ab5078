"""The merged view of a multi-worker run: one report per worker in, one table out.

A synchronous all-reduce makes every step as slow as its slowest replica: the faster workers wait
for it inside the collective. So the merged view lines the workers' steps up (same global step,
same steady epoch) and reports, per step, the slowest worker's time and the spread between the
slowest and the fastest (the straggler gap), which worker was slowest how often, each worker's
all-reduce share (a fast worker's all-reduce holds its wait for a slow one), the cluster's
throughput (the workers' summed) and its scaling efficiency against worker 0's single-replica run.
Pure Python and numpy: no TensorFlow.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import median

from tfprof_m1.analysis.scaling import scaling_efficiency, steady_throughputs
from tfprof_m1.analysis.steady import recorded_steady_epochs
from tfprof_m1.base.errors import UserError
from tfprof_m1.base.stats import quantile
from tfprof_m1.report.model import ModelRun, Report, Scaling, load_report, run_name

__all__ = ["MergedRun", "MergedView", "merge_reports"]


@dataclass
class WorkerFigures:
    """One worker's steady figures."""

    worker: int
    address: str
    report: str
    replicas: int
    epoch_mean_ms: float
    step_median_ms: float
    examples_per_s: float
    all_reduce_ms: float | None
    all_reduce_share: float | None
    #: Steps (of the aligned steady steps) on which this worker was the slowest.
    slowest_steps: int = 0


@dataclass
class MergedRun:
    """One model over every worker."""

    model: str
    replicas: int
    global_batch: int
    workers: list[WorkerFigures]
    #: Steps lined up across workers (steady, complete epochs every worker has).
    aligned_steps: int
    #: Per aligned step: the slowest worker's time (the step's true time), median and 90th percentile.
    slowest_step_median_ms: float
    slowest_step_p90_ms: float
    #: Per aligned step: slowest minus fastest worker, median and 90th percentile (the straggler gap).
    straggler_median_ms: float
    straggler_p90_ms: float
    #: The workers' summed steady examples/s.
    examples_per_s: float
    scaling: Scaling | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class MergedView:
    """The merged view of a multi-worker run: the worker reports read, one merged run per model."""

    reports: list[str]
    runs: list[MergedRun]

    def to_json(self) -> str:
        """The view as JSON (``merge --format json``)."""
        return json.dumps(dataclasses.asdict(self), indent=1)


def _check(reports: Sequence[Report], names: Sequence[str]) -> None:
    """Worker reports of one multi-worker run, each worker once (one line naming the report otherwise)."""
    seen: dict[int | None, str] = {}
    cluster = None
    for report, name in zip(reports, names):
        distributions = [run.distribution for run in report.runs if run.distribution is not None]
        if (
            not distributions
            or len(distributions) < len(report.runs)
            or any(d.strategy != "multiworker" for d in distributions)
        ):
            raise UserError(
                f"{name}: not a multi-worker report (run with --strategy multiworker, or the launch command)"
            )
        worker = distributions[0].worker
        if worker in seen:
            raise UserError(
                f"{name}: worker {worker} again (also {seen[worker]}); give each worker's report once"
            )
        seen[worker] = name
        if cluster is None:
            cluster = distributions[0].workers
        elif distributions[0].workers != cluster:
            raise UserError(
                f"{name}: from another cluster ({', '.join(distributions[0].workers)}, "
                f"not {', '.join(cluster)}); "
                "give the reports of one run"
            )
    if cluster is not None and len(seen) != len(cluster):
        missing = sorted(set(range(len(cluster))) - set(seen))
        raise UserError(
            f"{len(seen)} of the {len(cluster)} workers' reports given; "
            f"add the report of worker {', '.join(map(str, missing))}"
        )


def _step_totals(run: ModelRun) -> dict[tuple[int, int], float]:
    """(epoch index, step position) -> the step's time over all its phases, for steady complete epochs."""
    totals = {}
    for epoch in recorded_steady_epochs(run):
        lists = list(epoch.step_ms.values())
        for position in range(len(epoch.step_kinds)):
            totals[(epoch.index, position)] = sum(
                values[position] for values in lists if position < len(values)
            )
    return totals


def merge_runs(model: str, runs: Sequence[ModelRun], names: Sequence[str]) -> MergedRun:
    """One model's merged figures from each worker's run of it (in worker order)."""
    totals = [_step_totals(run) for run in runs]
    aligned = sorted(set.intersection(*(set(t) for t in totals))) if totals else []
    notes = [
        f"worker {run.distribution.worker if run.distribution else index}: interrupted ({run.interrupted}); "
        "only its complete epochs are lined up"
        for index, run in enumerate(runs)
        if run.interrupted
    ]
    if any(len(t) != len(aligned) for t in totals):
        notes.append(
            "the workers' steady steps differ (an interrupted worker?); "
            "only the steps every worker has are lined up"
        )
    slowest, gaps = [], []
    counts = [0] * len(runs)
    for key in aligned:
        times = [t[key] for t in totals]
        top = max(times)
        slowest.append(top)
        gaps.append(top - min(times))
        counts[times.index(top)] += 1
    workers = []
    for index, (run, name) in enumerate(zip(runs, names)):
        distribution = run.distribution
        assert distribution is not None
        reduce = next((part for part in run.steady.parts if part.part == "all_reduce"), None)
        workers.append(
            WorkerFigures(
                worker=distribution.worker if distribution.worker is not None else index,
                address=distribution.workers[distribution.worker]
                if distribution.worker is not None and distribution.worker < len(distribution.workers)
                else "",
                report=name,
                replicas=len(distribution.devices),
                epoch_mean_ms=run.steady.epoch_mean_ms,
                step_median_ms=run.steady.step_median_ms,
                examples_per_s=run.steady.examples_per_s,
                all_reduce_ms=reduce.ms if reduce else None,
                all_reduce_share=reduce.share.point if reduce else None,
                slowest_steps=counts[index],
            )
        )
    first = runs[0].distribution
    assert first is not None
    # Cluster throughput per steady epoch: the workers' examples/s summed epoch by epoch.
    per_worker = [steady_throughputs(run) for run in runs]
    epochs = min(len(values) for values in per_worker)
    summed = [sum(values[i] for values in per_worker) for i in range(epochs)]
    baseline = next((run.scaling for run in runs if run.scaling is not None), None)
    scaling = None
    if baseline is not None:
        scaling = scaling_efficiency(
            summed, baseline.baseline_epoch_examples_per_s, first.replicas, baseline.baseline_step_median_ms
        )
    else:
        notes.append(
            "no single-replica baseline in any worker's report (worker "
            "0 runs it unless --no-baseline): no scaling efficiency"
        )
    return MergedRun(
        model=model,
        replicas=first.replicas,
        global_batch=first.replicas * first.per_replica_batch,
        workers=workers,
        aligned_steps=len(aligned),
        slowest_step_median_ms=median(slowest) if slowest else 0.0,
        slowest_step_p90_ms=quantile(sorted(slowest), 0.9) if slowest else 0.0,
        straggler_median_ms=median(gaps) if gaps else 0.0,
        straggler_p90_ms=quantile(sorted(gaps), 0.9) if gaps else 0.0,
        examples_per_s=sum(summed) / len(summed) if summed else 0.0,
        scaling=scaling,
        notes=notes,
    )


def _worker(report: Report) -> int:
    """The worker index of a multi-worker report (its first run's; 0 when it names none)."""
    distribution = report.runs[0].distribution
    return (distribution.worker if distribution is not None else None) or 0


def merge_reports(paths: Sequence[str]) -> MergedView:
    """Load the workers' reports and merge each model's runs.

    Raises:
        UserError: a report that cannot be read, is not a multi-worker worker's, repeats a worker,
            or misses one.
    """
    reports = [load_report(path) for path in paths]
    names = [str(path) for path in paths]
    _check(reports, names)
    order = sorted(range(len(reports)), key=lambda i: _worker(reports[i]))
    reports, names = [reports[i] for i in order], [names[i] for i in order]
    merged = []
    for run in reports[0].runs:
        runs = []
        for report, name in zip(reports, names):
            match = [other for other in report.runs if run_name(other) == run_name(run)]
            if not match:
                raise UserError(f"{name}: has no run of {run_name(run)}; give the reports of one run")
            runs.append(match[0])
        merged.append(merge_runs(run_name(run), runs, names))
    return MergedView(reports=names, runs=merged)
