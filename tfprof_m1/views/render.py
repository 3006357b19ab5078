"""Render a Report as a terminal table, GitHub Markdown or JSON. Measures nothing.

Rows are built as data first (:func:`headline_rows`, :func:`phase_rows`) and only then formatted,
so other renderers can reuse them.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

from tabulate import tabulate

from tfprof_m1.analysis.blocks import MAX_BLOCKS
from tfprof_m1.analysis.estimate import FEW_STRETCHES as FEW_STRETCHES_FOR_COST
from tfprof_m1.analysis.estimate import MIN_FENCE_CHECKS
from tfprof_m1.analysis.figures import overhead_bounds
from tfprof_m1.analysis.scaling import efficiency_interval, replicas_text
from tfprof_m1.analysis.steady import recorded_steady_epochs
from tfprof_m1.analysis.throughput import achieved, achieved_text
from tfprof_m1.base.phases import (
    BACKWARD,
    BLOCK,
    CALL,
    DESCRIPTIONS,
    EXECUTION_NOTES,
    FORWARD,
    OPTIMIZER,
    OTHER,
    UNPROFILED,
)
from tfprof_m1.base.stats import summarize
from tfprof_m1.collection.environment import Environment
from tfprof_m1.collection.memory import MemoryUse
from tfprof_m1.report.interval import Interval
from tfprof_m1.report.model import ModelRun, PartSummary, PhaseSummary, Report, run_name
from tfprof_m1.trace.steps import SOURCE_MARKERS
from tfprof_m1.trace.xplane import DEVICE_TIME, TraceSummary
from tfprof_m1.views.width import counted, current_width, fit_table, heading, wrap_item, wrap_text

if TYPE_CHECKING:
    from tfprof_m1.analysis.compare import ModelComparison

__all__ = [
    "FORMATS",
    "Piece",
    "Table",
    "format_pieces",
    "headline_table",
    "ms_text",
    "render",
    "render_environment",
    "render_text",
    "render_trace",
    "render_traces",
    "tensorboard_command",
]

FORMATS = ("table", "markdown", "json")
#: A table's header cells and its rows of cells.
Table = tuple[Sequence[str], Sequence[Sequence[str]]]
#: One part of a page for :func:`format_pieces`: ``("heading" | "text", str)``, ``("table", Table)`` or
#: ``("list", items)``.
Piece = tuple[str, str | Table | Sequence[str]]


def _seconds(ms: float | None) -> str:
    return "—" if ms is None or not math.isfinite(ms) else f"{ms / 1000.0:.2f} s"


def ms_text(ms: float | None) -> str:
    """A time in ms: 3 decimals under 10, else 1; a value that rounds to zero reads 0.000, never
    -0.000 (a device wait of -0.0004 ms is no wait, not a negative one)."""
    if ms is None or not math.isfinite(ms):
        return "—"
    text = f"{ms:.3f}" if abs(ms) < 10 else f"{ms:,.1f}"
    return text[1:] if text.startswith("-") and not text.strip("-0.,") else text


def _percent(share: float) -> str:
    return f"{share * 100:.1f} %"


def _share_interval(share: Interval | None) -> str:
    if share is None:
        return "—"
    return f"{share.point * 100:.1f} % [{share.low * 100:.1f}–{share.high * 100:.1f}]"


def _epochs_label(run: ModelRun) -> str:
    epochs = run.steady.epochs
    if not epochs:
        return "no steady epoch (stopped in epoch 1)"
    if len(epochs) == 1:
        return f"epoch {epochs[0] + 1}"
    return f"epochs {epochs[0] + 1}–{epochs[-1] + 1}"


def headline_rows(report: Report) -> list[list[str]]:
    """The headline table's rows: fit's per-epoch average (the article's number) and the loop's."""
    rows = []
    for run in report.runs:
        head = run.headline
        overhead = "—"
        if head.framework_overhead_ms is not None:
            overhead = f"{head.framework_overhead_ms / 1000.0:+.2f} s ({head.framework_overhead_ratio:.2f}×)"
        rows.append(
            [
                run_name(run),
                _seconds(head.fit_epoch_mean_ms),
                _seconds(head.fit_epoch_mean_all_ms),
                _seconds(head.loop_epoch_mean_ms),
                overhead,
                f"{_seconds(head.fit_first_epoch_ms)} / {_seconds(head.loop_first_epoch_ms)}",
            ]
        )
    return rows


HEADLINE_HEADERS = [
    "model",
    "fit epoch (steady)",
    "fit epoch (all, as the article)",
    "custom loop epoch (steady)",
    "framework overhead (fit − unprofiled loop)",
    "first epoch fit / loop",
]
#: Columns kept when every run is a profiled ``fit`` (ProfileCallback): no custom loop ran.
FIT_ONLY_COLUMNS = (0, 1, 2)


def headline_table(report: Report) -> tuple[list[str], list[list[str]], list[str]]:
    """The headline table (headers, rows) and the notes it needs: no loop columns when only ``fit``
    ran; the overhead's header names the loop it was taken against; a negative overhead is said
    to be inside the noise when it is."""
    notes: list[str] = []
    headers, rows = list(HEADLINE_HEADERS), headline_rows(report)
    runs = report.runs
    if runs and all(run.source == "fit" for run in runs):
        headers = [headers[i] for i in FIT_ONLY_COLUMNS] + ["first epoch fit"]
        rows = [
            [row[i] for i in FIT_ONLY_COLUMNS] + [_seconds(run.headline.fit_first_epoch_ms)]
            for row, run in zip(rows, runs)
        ]
        return headers, rows, notes
    compared = [run for run in runs if run.headline.framework_overhead_ms is not None]
    against_profiled = [run for run in compared if run.headline.overhead_against != UNPROFILED]
    if compared and len(against_profiled) == len(compared):
        headers[4] = "framework overhead (fit − profiled loop)"
    elif against_profiled:
        names = ", ".join(run_name(run) for run in against_profiled)
        notes.append(
            f"{names}: framework overhead against the profiled loop (its profiling cost was not measured)"
        )
    for run in compared:
        overhead = run.headline.framework_overhead_ms
        cost = run.steady.profiling_cost
        bounds = overhead_bounds(run)
        if bounds is not None and cost is not None and cost.stretches < FEW_STRETCHES_FOR_COST:
            low, high = bounds
            notes.append(
                f"{run_name(run)}: the unprofiled loop epoch rests on the profiling cost, "
                f"{cost.ratio.point:.2f}× [{cost.ratio.low:.2f}–{cost.ratio.high:.2f}] from "
                f"{counted(cost.stretches, 'unprofiled stretch')}: over that interval the overhead "
                f"is {_signed_seconds(low)} to {_signed_seconds(high)}"
            )
        spread = max(run.steady.epoch_iqr_ms, _fit_iqr_ms(run))
        if overhead is not None and overhead < 0:
            inside = abs(overhead) <= spread
            notes.append(
                f"{run_name(run)}: fit's steady epoch was {_seconds(-overhead)} shorter than the loop's; "
                + (
                    f"inside the epochs' spread (IQR {_seconds(spread)}): no overhead measurable here"
                    if inside
                    else f"beyond the epochs' spread (IQR {_seconds(spread)}): fit did less per epoch or ran "
                    "on a quieter machine; check the parity warnings"
                )
            )
    return headers, rows, notes


def _signed_seconds(ms: float) -> str:
    return f"{ms / 1000:+.2f} s"


def _fit_iqr_ms(run: ModelRun) -> float:
    spread = summarize(run.fit.steady_epoch_ms) if run.fit is not None else None
    return spread.iqr if spread is not None else 0.0


def _cost_units(blocks: int, stretches: int) -> str:
    """What the profiling cost's bootstrap resampled: its units of profiled steps (past
    :data:`~tfprof_m1.analysis.blocks.MAX_BLOCKS`, that many groups of consecutive ones) and the
    stretches measured (past it, resampled in as many groups)."""
    profiled = (
        f"{counted(blocks, 'unit')} of profiled steps"
        if blocks < MAX_BLOCKS
        else f"{blocks} groups of consecutive profiled steps, a long run's most"
    )
    measured = "1 unprofiled stretch" if stretches == 1 else f"{stretches} unprofiled stretches"
    if stretches > MAX_BLOCKS:
        measured += f" in {MAX_BLOCKS} groups"
    return f"{profiled}, {measured}"


def phase_rows(phases: list[PhaseSummary]) -> list[list[str]]:
    """The phase table's rows: ms per step (median, IQR), ms per epoch, share of the epoch."""
    return [
        # a phase with no per-step time (only outside steps, like the trace session) shows —
        [
            p.phase,
            ms_text(p.step_median_ms or None),
            ms_text(p.step_iqr_ms if p.step_median_ms else None),
            ms_text(p.total_ms),
            _percent(p.share),
        ]
        for p in phases
    ]


PHASE_HEADERS = ["phase", "ms/step median", "IQR (ms)", "ms/epoch", "share of epoch"]


def part_rows(parts: list[PartSummary]) -> list[list[str]]:
    """The parts table's rows: call, forward, backward (all-reduce) and optimizer with intervals."""
    return [
        [
            p.part,
            ms_text(p.ms),
            ms_text(p.host_ms),
            ms_text(p.wait_ms),
            _share_interval(p.share),
            _share_interval(p.math_share),
        ]
        for p in parts
    ]


PART_HEADERS = [
    "part",
    "ms/step",
    "host",
    "device wait",
    "share of step compute [95 % CI]",
    "share of forward+backward+optimizer [95 % CI]",
]


def tensorboard_command(run_dir: str) -> str:
    """The one TensorBoard command suggested for a run: its parent folder as ``--logdir``, so
    TensorBoard names the run by its folder (a run directory given itself is named ``.``) and lists
    it beside the others."""
    import shlex
    from pathlib import PurePath

    parent = str(PurePath(run_dir).parent)
    return f"tensorboard --logdir {shlex.quote(parent)}"


def _run_section(run: ModelRun, environment: Environment) -> list[Piece]:
    """(kind, content) pieces: ("heading", str), ("text", str) or ("table", (headers, rows))."""
    steady = run.steady
    pieces: list[Piece] = [
        (
            "heading",
            f"{run_name(run)}: {_LOOP_KIND.get(run.source, 'loop')} phases, "
            f"steady state ({_epochs_label(run)})",
        ),
        ("text", _run_line(run)),
        ("table", (PHASE_HEADERS, phase_rows(steady.phases))),
    ]
    rate = f"; {steady.examples_per_s:,.0f} examples/s" if steady.examples_per_s > 0 else ""
    facts = [
        f"epoch {_seconds(steady.epoch_mean_ms)} mean, median {_seconds(steady.epoch_median_ms)}, "
        f"IQR {_seconds(steady.epoch_iqr_ms)}; step median {ms_text(steady.step_median_ms)} ms "
        f"(IQR {ms_text(steady.step_iqr_ms)} ms){rate}",
    ]
    if any(BLOCK in epoch.step_kinds for epoch in recorded_steady_epochs(run)):
        facts.append(
            "compute and its parts per step: steps run in blocks share their block's compute "
            "equally, so the median and IQR are mostly of block means (an IQR of 0 with one block "
            "an epoch), not of single steps"
        )
    facts += distribution_facts(run)
    facts += _measurement_facts(run)
    throughput = achieved(run, environment)
    if throughput is not None:
        facts.append(achieved_text(throughput))
    memory = _memory_fact(run)
    if memory:
        facts.append(memory)
    facts += [f"WARNING: {warning}" for warning in run.warnings]
    if steady.gc_ms > 0:
        facts.append(
            f"Python garbage collection paused the loop {ms_text(steady.gc_ms)} "
            "ms/epoch (inside the phases it hit)"
        )
    if not steady.epochs:
        facts.append(
            "no epoch finished (stopped in epoch 1): no steady state; the figures are the cut-short "
            "first epoch's (warm-up: tracing, pipeline start) and compare leaves this run out"
        )
    elif not steady.excludes_first_epoch:
        facts.append(
            "only one epoch: figures include warm-up (tracing, pipeline start); use --epochs 2 or more"
        )
    if steady.noisy:
        facts.append("noisy: the epoch times' IQR exceeds 10 % of their median; rerun on a quieter machine")
    if run.fit is not None and run.fit.jit_compile and run.source != "fit":
        facts.append(
            "Keras fit compiled with XLA (jit_compile, Keras' default on GPUs); the custom loop did not"
        )
    if run.data is not None:
        facts += [f"note: {note}" for note in run.data.notes]
    if run.run_dir:
        facts.append(f"run directory: {run.run_dir} (open with: {tensorboard_command(run.run_dir)})")
    if run.trace_problem:
        facts.append(f"trace: {run.trace_problem}")
    pieces.append(("list", facts))
    if steady.parts:
        pieces.append(
            (
                "heading",
                f"{run_name(run)}: parts of a step, "
                f"from {counted(steady.samples, 'probe step')} ({_epochs_label(run)})",
            )
        )
        pieces.append(("table", (PART_HEADERS, part_rows(steady.parts))))
        pieces.append(
            (
                "text",
                "Medians per probe step, device-inclusive (host + device wait); call = an empty call of the "
                "step's signature, forward/backward/optimizer = differences of prefix calls. Intervals: "
                "bootstrap over the probe steps." + _negative_parts(steady.parts),
            )
        )
    if run.trace is not None:
        pieces.append(
            (
                "heading",
                f"{run_name(run)}: tf.profiler trace of steps {_step_span(run.trace.traced_steps)}",
            )
        )
        pieces += trace_pieces(run.trace)
    return pieces


_LOOP_KIND = {"benchmark": "custom-loop", "loop": "training-loop", "fit": "Keras fit"}


def distribution_facts(run: ModelRun) -> list[str]:
    """Under tf.distribute: the strategy and devices, the all-reduce's share, the scaling efficiency."""
    distribution = run.distribution
    if distribution is None:
        return []
    local = len(distribution.devices)
    where = ", ".join(
        device.rsplit("/", 1)[-1] if "/device:" in device else device for device in distribution.devices
    )
    text = (
        f"distributed: {distribution.strategy}, {distribution.replicas} replicas × batch "
        f"{distribution.per_replica_batch} "
        f"(global batch {distribution.replicas * distribution.per_replica_batch})"
    )
    if distribution.worker is not None:
        text += (
            f"; this is worker {distribution.worker} of {len(distribution.workers)} ({local} "
            f"local replica{'s' if local != 1 else ''} on {where})"
        )
    else:
        text += f" on {where}"
    if distribution.logical_cpu_devices:
        text += (
            "; logical CPU devices carved out of one CPU (not enough GPUs): they share its cores, so the "
            "scaling shows the strategy's own cost, not a second device's gain"
        )
    facts = [text]
    reduce = next((part for part in run.steady.parts if part.part == "all_reduce"), None)
    if reduce is not None:
        facts.append(
            f"all-reduce of the gradients: {ms_text(reduce.ms)} ms per step, "
            f"{_percent(reduce.share.point)} of the step's compute "
            f"[95 % CI {_percent(reduce.share.low)}–{_percent(reduce.share.high)}] "
            "(probe steps: forward+gradients+all-reduce "
            "less forward+gradients)"
        )
    scaling = run.scaling
    if scaling is not None:
        facts.append(
            f"scaling efficiency {_percent(scaling.efficiency)} {efficiency_interval(scaling)}: "
            f"{scaling.examples_per_s:,.0f} examples/s on {replicas_text(scaling.replicas)} against "
            f"{scaling.replicas} × {scaling.baseline_examples_per_s:,.0f} for one replica alone "
            f"(same model and per-replica batch, steady epochs, run just after in this process)"
        )
    return facts


def _memory_fact(run: ModelRun) -> str | None:
    """Memory after each loop epoch (and fit's), host and device, or why the device's is missing; a
    fit-only report (``ProfileCallback``) has fit's alone."""

    def series(values: list[float | None]) -> str | None:
        shown = [f"{value:,.0f}" for value in values if value is not None]
        return ", ".join(shown) + " MiB" if shown else None

    def described(used: list[MemoryUse]) -> str:
        parts = [f"host RSS {series([m.host_rss_mb for m in used]) or 'not available on this platform'}"]
        device = series([m.device_current_mb for m in used])
        if device:
            parts.append(f"device {device} (peak {max(m.device_peak_mb or 0 for m in used):,.0f} MiB)")
        elif run.memory_note:
            parts.append(run.memory_note)
        return "; ".join(parts)

    used = [epoch.memory for epoch in run.epochs if epoch.memory is not None]
    fit_used = list(run.fit.memory) if run.fit is not None and run.fit.memory else []
    if not used:
        return f"memory after each fit epoch: {described(fit_used)}" if fit_used else None
    fit = series([m.host_rss_mb for m in fit_used])
    return f"memory after each loop epoch: {described(used)}" + (f"; fit: host RSS {fit}" if fit else "")


def _run_line(run: ModelRun) -> str:
    """Steps, batch, sampling and data of one run, as far as they are known."""
    batch = f" of batch {run.batch_size}" if run.batch_size else ""
    parts = [f"{run.steps_per_epoch} steps/epoch{batch}"]
    if run.steady.samples:
        sampled = max(
            (epoch.sampled_steps for epoch in run.epochs if epoch.index in run.steady.epochs), default=0
        )
        parts.append(f"up to {counted(sampled, 'sampled step')} per epoch ({run.steady.samples} pooled)")
    if run.custom_phases:
        parts.append(f"own phases: {', '.join(run.custom_phases)}")
    text = ", ".join(parts)
    if run.data is not None:
        text += f"; {run.data.source} data ({run.data.reason})"
    elif run.source == "fit":
        text += (
            "; each batch timed from on_train_batch_begin to on_train_batch_end, "
            "fenced (input fetch included)"
        )
    return text


#: Fewer unprofiled stretches than this in the steady epochs: the profiling cost's line says its
#: reference is noisy (each stretch is one unit of its bootstrap).
FEW_STRETCHES = 3


def _measurement_facts(run: ModelRun) -> list[str]:
    """How trustworthy the figures are: profiling cost, execution mode, fence coverage."""
    steady = run.steady
    facts = []
    cost = steady.profiling_cost
    if cost is not None:
        facts.append(
            f"profiling cost, end to end: {ms_text(cost.profiled_step_ms)} "
            f"ms per profiled step against {ms_text(cost.unprofiled_step_ms)} ms "
            f"unprofiled = {cost.ratio.point:.3f}× [95 % CI {cost.ratio.low:.3f}–{cost.ratio.high:.3f}] "
            f"({_cost_units(cost.blocks, cost.stretches)}); unprofiled, the epoch would take "
            f"{_seconds(cost.unprofiled_epoch_ms)}"
            + (
                f"; a reference of {cost.stretches} stretch{'' if cost.stretches == 1 else 'es'} is "
                "noisy: read the interval, or run more epochs (short epochs pool their stretches)"
                if cost.stretches < FEW_STRETCHES
                else ""
            )
        )
    elif run.source == "benchmark":
        facts.append(
            "profiling cost, end to end: not measured (too few steps for "
            "unprofiled stretches, or --reference-share 0)"
        )
    elif run.source == "fit":
        facts.append(
            "profiling cost, end to end: not measured for a fit (ProfileCallback fences every batch; "
            "its cost is the fit's epoch with the callback against one without, e.g. keras' own "
            "epoch times or EpochTimer alone, which adds nothing per batch: docs/fit.md)"
        )
    else:
        facts.append(
            "profiling cost, end to end: not measured (no unprofiled stretches; run_profiled_loop runs them, "
            "or time some steps inside profiler.unprofiled())"
        )
    execution = steady.execution
    if execution is not None:
        text = f"execution: {execution.mode} (device wait {_percent(execution.wait_share)} of a sampled step)"
        facts.append(text + (f"; {execution.note}" if execution.note else ""))
    check = steady.fence_check
    if check is not None:
        verdict = (
            "WARNING: the step fence left device work queued; device-inclusive times are too short"
            if check.flagged
            else "not judged: on a CPU under the synchronous executor each call returns with its work "
            "done, so nothing can be left queued and this is the host's own noise"
            if not check.judged
            else "the step fence left nothing queued"
            if check.samples >= MIN_FENCE_CHECKS
            else f"too few checks to judge (at least {MIN_FENCE_CHECKS}: run more epochs)"
        )
        facts.append(
            f"fence coverage: a second fence ({check.fence}) waited {ms_text(check.leftover_median_ms)} "
            "ms median "
            f"(max {ms_text(check.leftover_max_ms)}) beyond its own cost on "
            f"{counted(check.samples, 'probe step')}: {verdict}"
        )
    return facts


def _negative_parts(parts: list[PartSummary]) -> str:
    """What a part whose median is below zero means (a difference of two prefix calls smaller than
    the calls' own noise), said where the table shows one; empty otherwise."""
    negative = [part for part in parts if part.ms < 0 and ms_text(part.ms).startswith("-")]
    if not negative:
        return ""
    named = ", ".join(f"{part.part} {ms_text(part.ms)} ms" for part in negative)
    return (
        f" A part below zero ({named}) is a difference of two prefix calls smaller than their own "
        "noise: read it as about 0 (its share counts it as 0); more probe steps narrow it."
    )


def format_pieces(pieces: list[Piece], markdown: bool, width: int | None = None) -> str:
    """Headings, text, tables and lists as a terminal table or Markdown (GitHub issues), within
    ``width`` columns (:mod:`tfprof_m1.views.width`; None: the width set there, 120 unless the
    command line's ``--wide`` keeps every line whole). Markdown's text
    and list items are left whole: GitHub wraps them, and a line break would only split a phrase."""
    out = []
    width = current_width() if width is None else width
    text_width = None if markdown else width
    for kind, content in pieces:
        if kind == "heading":
            out.append(heading(cast(str, content), markdown, width))
        elif kind == "text":
            out.append(wrap_text(cast(str, content), text_width))
        elif kind == "table":
            headers, rows = cast(Table, content)
            out.append(fit_table(headers, rows, markdown, width))
        elif kind == "list":
            out.append("\n".join(wrap_item(item, text_width) for item in cast("Sequence[str]", content)))
        out.append("")
    return "\n".join(out)


def _step_span(steps: Sequence[int]) -> str:
    return f"{steps[0]}–{steps[-1]}" if steps else "—–—"


def fences_text(runs: Sequence[ModelRun]) -> str:
    """The fence the runs used and its cost per call, once per distinct fence and cost."""
    texts = [
        f"fence {run.fence.name} ({ms_text(run.fence.median_ms)} ms/call)"
        for run in runs
        if run.fence is not None
    ]
    return ", ".join(dict.fromkeys(texts)) or "no fence"


def render_text(report: Report, markdown: bool = False) -> str:
    """The headline table, then a phase table per model."""
    env = report.environment
    fence_text = fences_text(report.runs)
    config = report.config
    ran = sorted({run.steps_per_epoch for run in report.runs if run.steps_per_epoch})
    # no --steps: every batch of the data, or (own loops, fit) what the runs say they ran
    steps = str(config.steps) if config.steps is not None else "/".join(map(str, ran)) if ran else "all"
    run_facts = [f"{config.epochs} epochs", f"steps/epoch {steps}"]
    run_facts += [f"batch {config.batch_size}"] if config.batch_size else []
    run_facts += [f"seed {config.seed}"] if config.seed is not None else []
    pieces: list[Piece] = [
        ("heading", "tfprof_m1: where the epoch goes"),
        (
            "text",
            f"TensorFlow {env.tensorflow}, Keras {env.keras}, Python {env.python} on {env.platform}; "
            f"device {env.device_label} ({env.device_used}), {fence_text}; "
            f"{', '.join(run_facts)}, {report.created}",
        ),
        *[
            ("text", f"INTERRUPTED: {run_name(run)}: {run.interrupted}.")
            for run in report.runs
            if run.interrupted
        ],
        ("heading", "Headline: mean epoch time"),
        ("table", headline_table(report)[:2]),
        ("text", f"Steady state: {report.runs[0].headline.basis}." if report.runs else ""),
        *[("text", note + ".") for note in headline_table(report)[2]],
    ]
    for run in report.runs:
        pieces += _run_section(run, report.environment)
    pieces.append(("list", legend(report)))
    return format_pieces(pieces, markdown).rstrip() + "\n"


def legend(report: Report) -> list[str]:
    """What each printed phase holds, and what the parts mean on this run's kind of execution."""
    shown = {phase.phase for run in report.runs for phase in run.steady.phases}
    items = [
        f"{name}: {text}"
        for name, text in DESCRIPTIONS.items()
        if name in shown or name == CALL and any(r.steady.parts for r in report.runs)
    ]
    modes = {run.steady.execution.mode for run in report.runs if run.steady.execution is not None}
    items += [f"{mode} execution: {EXECUTION_NOTES[mode]}" for mode in sorted(modes)]
    return items


def trace_pieces(trace: TraceSummary) -> list[Piece]:
    """The trace section: op-time shares beside the timing-based shares, top ops, host-only ops; on
    traces with device planes, device time beside host op time and each step's device busy/idle."""
    phases = [FORWARD, BACKWARD, OPTIMIZER]
    phases += [phase for phase in trace.op_ms if phase not in phases and phase != OTHER] + [OTHER]
    timing = trace.timing_shares or {}
    on_device = trace.measure == DEVICE_TIME
    rows = [
        [
            phase,
            ms_text(trace.op_ms.get(phase)),
            *([ms_text(trace.host_op_ms.get(phase))] if on_device else []),
            _percent(trace.shares.get(phase, 0.0)),
            _percent(timing[phase] / sum(timing.values(), 0.0))
            if phase in timing and sum(timing.values(), 0.0)
            else "—",
        ]
        for phase in phases
    ]
    headers = (
        ["phase", "device time (ms)", "host op time (ms)", "share of device time (trace)"]
        if on_device
        else ["phase", "op time (ms)", "share of op time (trace)"]
    ) + ["share of compute (timing)"]
    calls = trace.batches_per_marker
    last = trace.traced_steps[-1] + calls - 1 if trace.traced_steps else None
    steps = f"{trace.traced_steps[0]}–{last}" if trace.traced_steps else "none"
    source = "" if trace.step_source in ("", SOURCE_MARKERS) else f": {trace.step_source}"
    if calls > 1:  # Keras's steps_per_execution: a marker is one call of `calls` batches
        per_batch = None if trace.step_ms_mean is None else trace.step_ms_mean / calls
        marked = (
            f"traced batches {steps} ({trace.step_markers} step markers, each a call of {calls} batches"
            f"{source}); mean marked call {ms_text(trace.step_ms_mean)} ms ({ms_text(per_batch)} ms a batch)"
        )
        same = "batches"
    else:
        marked = (
            f"traced steps {steps} ({trace.step_markers} step markers{source}); "
            f"mean marked step {ms_text(trace.step_ms_mean)} ms"
        )
        same = "steps"
    facts = [
        marked
        + (
            f", timing-based mean of the same {same} {ms_text(trace.timing_step_ms_mean)} ms"
            if trace.timing_step_ms_mean
            else ""
        ),
        f"input: {ms_text(trace.input_wait_ms)} ms waiting in IteratorGetNext, "
        f"{ms_text(trace.input_pipeline_ms)} ms of tf.data work on its own threads",
        "device planes: "
        + (", ".join(trace.device_planes) if trace.device_planes else "none (host-only trace)"),
    ]
    facts += [f"note: {note}" for note in trace.notes]
    pieces: list[Piece] = [("table", (headers, rows)), ("list", facts)]
    if on_device and trace.steps:
        pieces.append(
            (
                "table",
                (
                    ["step", "step (ms)", "device busy (ms)", "device idle (ms)", "bound"],
                    [
                        [
                            str(s.step),
                            ms_text(s.ms),
                            ms_text(s.device_busy_ms),
                            ms_text(s.device_idle_ms),
                            str(s.bound),
                        ]
                        for s in trace.steps
                    ],
                ),
            )
        )
    top_rows = [
        [phase, op.name, ms_text(op.total_ms), str(op.count)]
        for phase in phases
        for op in trace.top_ops.get(phase, [])[:3]
    ]
    if top_rows:
        pieces.append(("table", (["phase", "top ops", "ms", "calls"], top_rows)))
    if trace.host_ops_on_gpu_run:
        pieces.append(
            ("text", "Ops that ran on the host instead of the device (a common cause of slow GPU runs):")
        )
        pieces.append(
            (
                "table",
                (
                    ["phase", "op", "ms", "calls"],
                    [
                        [op.phase, op.name, ms_text(op.total_ms), str(op.count)]
                        for op in trace.host_ops_on_gpu_run
                    ],
                ),
            )
        )
    return pieces


def render_trace(trace: TraceSummary, markdown: bool = False) -> str:
    """A trace summary (``trace RUN_DIR``) as a terminal table or Markdown."""
    what = "device time" if trace.measure == DEVICE_TIME else "op time"
    pieces: list[Piece] = [("heading", f"tf.profiler trace: {what} by phase")]
    pieces += trace_pieces(trace)
    return format_pieces(pieces, markdown).rstrip() + "\n"


def render_traces(traces: Sequence[TraceSummary], markdown: bool = False) -> str:
    """The trace summaries of several runs (``trace FOLDER``), each under a heading naming its run."""
    if len(traces) == 1:
        return render_trace(traces[0], markdown)
    pieces: list[Piece] = []
    for trace in traces:
        path = Path(trace.files[0]) if trace.files else Path("?")
        run = path.parents[3] if path.parent.parent.name == "profile" else path.parent
        what = "device time" if trace.measure == DEVICE_TIME else "op time"
        pieces.append(("heading", f"tf.profiler trace of {run}: {what} by phase"))
        pieces += trace_pieces(trace)
    return format_pieces(pieces, markdown).rstrip() + "\n"


def environment_rows(env: Environment) -> list[list[str]]:
    """The environment as (field, value) rows; fields not collected are shown as —."""
    gpus = (
        "; ".join(
            f"{g.name} ({g.device_name or 'no name'}"
            + (f", compute capability {g.compute_capability})" if g.compute_capability else ")")
            for g in env.gpus
        )
        or "none visible"
    )
    build = env.build
    cuda = (
        f"CUDA {build.get('cuda_version')}, cuDNN {build.get('cudnn_version')}"
        if build.get("is_cuda_build") == "True"
        else "not a CUDA build"
    )
    metal = env.tensorflow_metal or "not installed"
    if env.tensorflow_metal:
        metal += ", plugin loaded" if env.metal_plugin_loaded else ", plugin NOT loaded (no GPU visible)"
    values = [
        ("device label", env.device_label),
        ("device used", f"{env.device_used} ({env.device_kind})"),
        ("OS", env.os or env.platform),
        ("machine", env.machine),
        ("CPU", f"{env.cpu_model or 'unknown'}, {env.cpu_count or '?'} logical cores"),
        ("memory", f"{env.memory_gb:.1f} GiB" if env.memory_gb else None),
        ("Python", env.python),
        ("TensorFlow", env.tensorflow),
        ("Keras", env.keras),
        ("NumPy", env.numpy),
        ("tensorflow-metal", metal),
        ("GPUs", gpus),
        ("TensorFlow build", cuda),
        ("Colab", "yes" if env.colab else "no"),
        (
            "matmul peak (float32, 1024²)",
            f"{env.matmul_peak_gflops:.1f} GFLOP/s" if env.matmul_peak_gflops else "not measured",
        ),
        ("tfprof_m1", env.tfprof_m1),
        ("collected", env.collected),
    ]
    return [[name, "—" if value is None else str(value)] for name, value in values]


def render_environment(env: Environment, fmt: str) -> str:
    """The environment (``env``) as a table, Markdown or JSON."""
    if fmt == "json":
        return json.dumps(dataclasses.asdict(env), indent=1) + "\n"
    table = tabulate(
        environment_rows(env),
        headers=["field", "value"],
        tablefmt="github" if fmt == "markdown" else "simple",
        disable_numparse=True,
    )
    return table + "\n"


def render(subject: Report | Sequence[ModelComparison], fmt: str = "table") -> str:
    """A report, or ``compare``'s comparisons, as text: the one public renderer.

    Args:
        subject: a ``Report`` (``render_text``) or the list ``compare`` returns (``render_comparison``).
        fmt: ``table`` (a terminal's text), ``markdown``, or ``json`` (a report only: ``Report.to_json``).

    Raises:
        ValueError: ``fmt`` is not one of ``FORMATS``, or ``json`` for comparisons.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt {fmt!r}: use one of {', '.join(FORMATS)}")
    if not isinstance(subject, Report):
        if fmt == "json":
            raise ValueError("fmt 'json' renders a Report; render comparisons as 'table' or 'markdown'")
        from tfprof_m1.views.compare_render import render_comparison

        return render_comparison(list(subject), markdown=fmt == "markdown")
    if fmt == "json":
        return subject.to_json() + "\n"
    return render_text(subject, markdown=fmt == "markdown")
