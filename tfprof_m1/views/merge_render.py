"""The merged multi-worker view as a terminal table or Markdown."""

from __future__ import annotations

from tfprof_m1.analysis.merge import MergedRun, MergedView
from tfprof_m1.analysis.scaling import efficiency_interval, replicas_text
from tfprof_m1.views.render import Piece, format_pieces

__all__ = ["render_merged"]

WORKER_HEADERS = [
    "worker",
    "address",
    "replicas",
    "epoch (s)",
    "step median (ms)",
    "examples/s",
    "all-reduce ms/step",
    "all-reduce share",
    "slowest on",
]


def _worker_rows(run: MergedRun) -> list[list[str]]:
    rows = []
    for worker in run.workers:
        rows.append(
            [
                str(worker.worker),
                worker.address or "—",
                str(worker.replicas),
                f"{worker.epoch_mean_ms / 1000:.2f}",
                f"{worker.step_median_ms:.3g}",
                f"{worker.examples_per_s:,.0f}",
                "—" if worker.all_reduce_ms is None else f"{worker.all_reduce_ms:.3g}",
                "—" if worker.all_reduce_share is None else f"{worker.all_reduce_share * 100:.1f} %",
                f"{worker.slowest_steps} of {run.aligned_steps} steps",
            ]
        )
    return rows


def _facts(run: MergedRun) -> list[str]:
    facts = [
        f"{len(run.workers)} workers, {run.replicas} replicas in all, global batch {run.global_batch}: "
        f"{run.examples_per_s:,.0f} examples/s (the workers' steady throughput, summed)",
        f"the step is as slow as its slowest worker: {run.slowest_step_median_ms:.3g} ms median, "
        f"{run.slowest_step_p90_ms:.3g} ms at the 90th percentile, over "
        f"{run.aligned_steps} steps lined up across workers",
        f"straggler gap (slowest minus fastest worker, per step): {run.straggler_median_ms:.3g} ms median, "
        f"{run.straggler_p90_ms:.3g} ms at the 90th percentile; a synchronous "
        "all-reduce turns most of a gap into "
        "all-reduce time on the faster workers",
    ]
    scaling = run.scaling
    if scaling is not None:
        facts.append(
            f"scaling efficiency {scaling.efficiency * 100:.1f} % {efficiency_interval(scaling)}: "
            f"{scaling.examples_per_s:,.0f} examples/s on {replicas_text(scaling.replicas)} against "
            f"{scaling.replicas} × {scaling.baseline_examples_per_s:,.0f} for one replica alone "
            "(worker 0's single-replica run, same model and per-replica batch)"
        )
    facts += [f"note: {note}" for note in run.notes]
    return facts


def render_merged(view: MergedView, markdown: bool = False) -> str:
    """The merged view as a terminal table or Markdown: a row per worker, then the slowest-worker figures."""
    pieces: list[Piece] = []
    for run in view.runs:
        pieces.append(("heading", f"{run.model}: multi-worker run, merged over {len(run.workers)} workers"))
        pieces.append(("table", (WORKER_HEADERS, _worker_rows(run))))
        pieces.append(("list", _facts(run)))
    pieces.append(("text", "Reports: " + ", ".join(view.reports)))
    return format_pieces(pieces, markdown).rstrip() + "\n"
