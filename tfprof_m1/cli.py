"""Command line: ``python -m tfprof_m1 MODEL`` runs a benchmark; ``show`` renders a saved report.

Argument parsing, ``--help`` and ``show`` do not import TensorFlow. A user mistake prints one line
on stderr and exits 2; a run stopped by Ctrl-C or SIGTERM writes what it measured and exits 130 or
143; a run whose outputs could not all be written exits 1 (see docs/usage.md, "When things go wrong").
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tfprof_m1 import __version__
from tfprof_m1.base.errors import UserError
from tfprof_m1.base.files import write_atomic, written
from tfprof_m1.base.keras_backend import check_keras_backend
from tfprof_m1.base.safe_io import check_output_dir, check_output_file
from tfprof_m1.collection.interrupt import InterruptGuard, exit_status, signal_name, signal_of
from tfprof_m1.collection.loop import DEFAULT_BUDGET
from tfprof_m1.collection.strategies import STRATEGIES
from tfprof_m1.report.model import RunConfig
from tfprof_m1.run.outputs import OutputSettings
from tfprof_m1.trace.window import parse_step_range
from tfprof_m1.views.render import FORMATS, render
from tfprof_m1.workloads.datasets import DATA_MODES
from tfprof_m1.workloads.models import MODEL_NAMES, MODELS

#: The run finished but an output (run directory, --json, stdout) could not be written.
EXIT_WRITE_FAILED = 1
EXIT_USER_ERROR = 2


#: The run's settings when no flag is given: the defaults live in RunConfig alone.
DEFAULTS = RunConfig()


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as one line (no usage dump) through UserError, and takes no
    abbreviated options (``--epoch 2`` is an error, not ``--epochs 2``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{message} (see {self.prog} --help)")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be 1 or more")
    return value


def _seed(text: str) -> int:
    """A seed numpy and TensorFlow accept: a whole number from 0 to 2**32 - 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"{value} must be from 0 to 4294967295 (a 32-bit seed)")
    return value


def _model_list() -> str:
    return "\n".join(f"  {name:<14} {spec.summary}" for name, spec in MODELS.items())


def run_parser() -> argparse.ArgumentParser:
    """The run command's parser: every measuring flag is named as its RunConfig field and takes its default
    from there."""
    parser = _Parser(
        prog="python -m tfprof_m1",
        description=(
            "Train an article model with a profiled custom loop and with Keras fit, and show where "
            "each epoch's time goes: input, forward, backward, optimizer, device sync, other.\n\n"
            f"models:\n{_model_list()}\n  all            the three, one after the other\n\n"
            "other commands:\n"
            "  show REPORT.json                 render a saved report without training\n"
            "  compare REF.json OTHER.json ...  where two or more runs differ (first is the reference)\n"
            "  plot REPORT.json ... -o F.png    the article's chart and a phase chart\n"
            "  env                              what this machine is (devices, versions, matmul peak)\n"
            "  trace RUN_DIR                    what the tf.profiler trace says: op time per phase, top ops\n"
            "  sweep MODEL --batch-sizes 16,32  step time and throughput "
            "by batch size (and device): the CPU-GPU crossover\n"
            "  launch --workers N MODEL ...     a multi-worker rehearsal: "
            "N local workers over loopback, then their merged view\n"
            "  merge WORKER.json ...            the merged view of a multi-worker run's worker reports\n\n"
            "any command:\n"
            "  --verbose                        also show TensorFlow's own C++ log lines (held back)\n"
            "  --wide                           keep every output line whole (default: 120 columns)"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "model", choices=[*MODEL_NAMES, "all"], metavar="MODEL", help="mnist, fashion_mnist, cifar10 or all"
    )
    parser.add_argument(
        "--epochs",
        type=_positive,
        default=DEFAULTS.epochs,
        help=f"epochs for the loop and for fit (default {DEFAULTS.epochs}; the article used 10)",
    )
    parser.add_argument(
        "--repeats",
        type=_positive,
        default=DEFAULTS.repeats,
        help="run each model this many times, interleaved (m1, m2, m1, m2...), each a run in the report: "
        "compare then treats the run as its unit "
        f"(default {DEFAULTS.repeats}; 3 or more for comparing machines)",
    )
    parser.add_argument(
        "--steps",
        type=_positive,
        default=DEFAULTS.steps,
        help="cap steps per epoch, for quick runs (default: whole epoch)",
    )
    parser.add_argument(
        "--batch-size",
        type=_positive,
        default=DEFAULTS.batch_size,
        help=f"examples per batch (default {DEFAULTS.batch_size}, as Keras fit)",
    )
    parser.add_argument(
        "--data",
        choices=DATA_MODES,
        default=DEFAULTS.data,
        help=(
            "auto: real data if found or downloadable, else synthetic (said so); "
            "real: fail without it; synthetic: seeded random data of the same shapes"
        ),
    )
    parser.add_argument(
        "--data-dir",
        default=DEFAULTS.data_dir,
        help="look for the dataset files here first, then in the Keras cache",
    )
    parser.add_argument(
        "--no-download", dest="download", action="store_false", help="never try to download a dataset"
    )
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "gpu"),
        default=DEFAULTS.device,
        help="cpu hides GPUs; gpu fails when there is none (default auto)",
    )
    parser.add_argument(
        "--seed",
        type=_seed,
        default=DEFAULTS.seed,
        help=f"seeds weights, data shuffling and synthetic data (default {DEFAULTS.seed})",
    )
    parser.add_argument("--no-fit", dest="fit", action="store_false", help="skip the Keras fit headline run")
    parser.add_argument(
        "--fit-jit-compile",
        choices=("auto", "on", "off"),
        default=DEFAULTS.fit_jit_compile,
        help="XLA for fit: auto is Keras' default (on whenever a GPU is present; the custom loop never "
        "uses it), off removes that confound from the headline",
    )
    parser.add_argument(
        "--sample-every",
        type=_positive,
        default=DEFAULTS.sample_every,
        help=(
            "one step in N is a probe step, timing call/forward/backward/optimizer apart; given (or "
            f"--min-samples), instead of the default budget: probe steps cost at most "
            f"{DEFAULT_BUDGET * 100:.0f} %% of the epoch (default {DEFAULTS.sample_every})"
        ),
    )
    parser.add_argument(
        "--min-samples",
        type=int,
        default=DEFAULTS.min_samples,
        help=(
            "with --sample-every's rule: at least this many probe steps per epoch "
            f"(default {DEFAULTS.min_samples})"
        ),
    )
    parser.add_argument(
        "--reference-share",
        type=float,
        default=DEFAULTS.reference_share,
        help=(
            "share of steps run unprofiled, to measure what profiling costs (default "
            f"{DEFAULTS.reference_share}; 0 turns it off)"
        ),
    )
    parser.add_argument(
        "--async-executor",
        action="store_true",
        help=(
            "make TensorFlow's eager executor asynchronous: calls return before "
            "the work is done, as on a GPU "
            "(a rehearsal of GPU-style asynchrony on a CPU; see docs/how-it-measures.md)"
        ),
    )
    parser.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default=DEFAULTS.strategy,
        help=(
            "tf.distribute: one (no strategy), mirrored (--replicas devices in "
            "this process: GPUs, or logical "
            "CPU devices when there are not enough) or multiworker (one process per worker, from TF_CONFIG; "
            "rehearse with the launch command). --batch-size is then per replica (see docs/distributed.md)"
        ),
    )
    parser.add_argument(
        "--replicas",
        type=_positive,
        default=None,
        help=f"replicas for --strategy mirrored (default {RunConfig(strategy='mirrored').replicas})",
    )
    parser.add_argument(
        "--no-baseline",
        dest="baseline",
        action="store_false",
        help="under a strategy, skip the single-replica run that the scaling efficiency is measured against",
    )
    parser.add_argument(
        "--logdir",
        default=OutputSettings.logdir,
        help=(
            "each run gets its own directory here: TensorBoard events, the trace, report.json "
            f"(default {OutputSettings.logdir}/)"
        ),
    )
    parser.add_argument(
        "--trace-steps",
        metavar="START:STOP",
        default=None,
        help=(
            "global steps to trace with tf.profiler, from 0, STOP exclusive (default: "
            "up to 10 steps in epoch 2)"
        ),
    )
    parser.add_argument("--no-trace", dest="trace", action="store_false", help="no tf.profiler trace")
    parser.add_argument(
        "--stop-on-nan",
        action="store_true",
        help=(
            "end a model's loop and its fit after the epoch whose loss is NaN or "
            "infinite (default: warn and go on)"
        ),
    )
    parser.add_argument(
        "--autotune",
        action="store_true",
        help="let tf.data autotune the input pipeline (default: fixed settings; see docs/how-it-measures.md)",
    )
    parser.add_argument(
        "--json", metavar="PATH", default=None, help="also write the report as JSON to PATH (atomically)"
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        help="stdout format: table, markdown (for GitHub issues) or json",
    )
    parser.add_argument(
        "--no-peak", dest="peak", action="store_false", help="skip measuring the device's matmul peak"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument("--version", action="version", version=f"tfprof_m1 {__version__}")
    return parser


def show_parser() -> argparse.ArgumentParser:
    """The show command's parser."""
    parser = _Parser(prog="python -m tfprof_m1 show", description="Render a saved report without training.")
    parser.add_argument("report", metavar="REPORT.json")
    parser.add_argument("--format", choices=FORMATS, default="table")
    return parser


def _check_writable(path: str, flag: str = "--json") -> Path:
    """Fail before training, not after, when the report cannot be written (creating nothing): the path
    must be a regular file or new (never a device, FIFO, symbolic link or directory: see
    tfprof_m1.base.safe_io), in a directory that can be made and written."""
    target = check_output_file(flag, path)
    check_output_dir(flag, target.parent)  # the report replaces the file by a rename in this directory
    if target.exists() and not os.access(target, os.W_OK):
        raise UserError(
            f"{flag} {path}: the existing file is not writable (read-only or immutable); "
            "choose another path or make it writable"
        )
    return target


def _check_run_outputs(args: argparse.Namespace) -> None:
    """Output settings that no run can use, refused before TensorFlow is imported."""
    if args.logdir is not None and not args.logdir.strip():
        raise UserError("--logdir '': give a directory (default runs/)")
    if args.trace_steps is not None and not args.trace_steps.strip():
        raise UserError("--trace-steps '': give START:STOP, such as 20:30, or leave the option out")
    if not args.trace and args.trace_steps is not None:
        raise UserError("--no-trace and --trace-steps contradict each other; give one of them")
    if args.data_dir is not None and not args.data_dir.strip():
        raise UserError("--data-dir '': give a directory, or leave the option out to use the Keras cache")
    if args.logdir is not None:
        check_output_dir("--logdir", Path(args.logdir))
    if args.json is not None:
        target = _check_writable(args.json)
        if args.logdir is not None and _same_or_inside(Path(args.logdir), target):
            raise UserError(
                f"--json {args.json}: is --logdir {args.logdir} (or a folder above it); the run directories "
                f"go there, so give a file such as {Path(args.logdir) / 'report.json'}"
            )


def _same_or_inside(inner: Path, outer: Path) -> bool:
    """Whether ``inner`` is ``outer`` or lies under it (paths resolved, neither need exist)."""
    inner, outer = Path(os.path.realpath(inner)), Path(os.path.realpath(outer))
    return inner == outer or outer in inner.parents


def config_from_args(args: argparse.Namespace) -> tuple[RunConfig, OutputSettings]:
    """What to measure and where outputs go, from the run command's flags: every RunConfig field
    is the flag of the same name (``--no-X`` flags store False in ``X``); run_benchmark checks it."""
    fields = {field.name for field in dataclasses.fields(RunConfig)} - {"models"}
    models = list(MODEL_NAMES) if args.model == "all" else [args.model]
    config = RunConfig(models=models, **{name: getattr(args, name) for name in fields})
    trace_steps = parse_step_range(args.trace_steps) if args.trace_steps else None
    return config, OutputSettings(logdir=args.logdir, trace=args.trace, trace_steps=trace_steps)


def cmd_run(argv: Sequence[str]) -> int:
    """Train, profile and print the report; a stop signal prints what was measured and exits 128+signal."""
    args = run_parser().parse_args(argv)
    _check_run_outputs(args)
    config, output = config_from_args(args)
    json_path = _check_writable(args.json) if args.json is not None else None
    from tfprof_m1.run.bench import run_benchmark, validate_config

    validate_config(config)  # every setting, before TensorFlow is imported
    check_keras_backend()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's info lines out of the output
    from tfprof_m1.collection.interrupt import TrainingInterrupted
    from tfprof_m1.run.outputs import RunOutputs

    progress: Callable[[str], None] | None = None if args.quiet else (_say)
    outputs = RunOutputs(json_path=json_path, say=_say)
    try:
        report = run_benchmark(config, progress, outputs, output)
    except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM: what was measured is already written
        partial = stop.partial if isinstance(stop, TrainingInterrupted) else None
        if partial is not None:
            _write_stdout(render(partial, args.format))
        signum = signal_of(stop)
        written = f"written: {outputs.summary()}" if outputs.written else "nothing was written"
        print(f"tfprof_m1: stopped by {signal_name(signum)}; {written}", file=sys.stderr)
        return exit_status(signum)
    if json_path is not None and progress and not outputs.failures:
        progress(f"report written to {json_path}")
    _write_stdout(render(report, args.format))
    if outputs.failures:
        print(
            f"tfprof_m1: error: {len(outputs.failures)} output(s) could not be written (above); "
            f"written: {outputs.summary()}",
            file=sys.stderr,
        )
        return EXIT_WRITE_FAILED
    return 0


def _write_stdout(text: str) -> None:
    """Print a rendered report; bytes of a path that are not UTF-8 are shown as the replacement
    character rather than failing the write."""
    sys.stdout.write(text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
    sys.stdout.flush()


def cmd_show(argv: Sequence[str]) -> int:
    """Render a saved report without training."""
    args = show_parser().parse_args(argv)
    from tfprof_m1.report.model import load_report

    sys.stdout.write(render(load_report(args.report), args.format))
    return 0


def cmd_env(argv: Sequence[str]) -> int:
    """Print this machine's environment as a report records it."""
    parser = _Parser(
        prog="python -m tfprof_m1 env", description="Print what this machine is, as a report records it."
    )
    parser.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    parser.add_argument(
        "--peak", action="store_true", help="also measure the float32 matmul peak (a few seconds)"
    )
    parser.add_argument("--no-peak", action="store_true", help=argparse.SUPPRESS)  # the default now
    parser.add_argument("--format", choices=FORMATS, default="table")
    args = parser.parse_args(argv)
    check_keras_backend()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tfprof_m1.collection.environment import collect_environment, configure_device
    from tfprof_m1.views.render import render_environment

    sys.stdout.write(
        render_environment(
            collect_environment(configure_device(args.device), peak=args.peak and not args.no_peak),
            args.format,
        )
    )
    return 0


def cmd_compare(argv: Sequence[str]) -> int:
    """Compare saved reports; the first is the reference."""
    parser = _Parser(
        prog="python -m tfprof_m1 compare",
        description=(
            "Compare saved reports; the first is the reference. Runs that agree in everything that "
            "changes the measurement are pooled as repeats; the others are sides, named by what differs."
        ),
    )
    parser.add_argument("reports", nargs="+", metavar="REPORT.json")
    parser.add_argument("--format", choices=("table", "markdown"), default="table")
    parser.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="NAME",
        help="name the reports in order (repeatable), e.g. --label 'batch 32' --label 'batch 128'",
    )
    args = parser.parse_args(argv)
    from tfprof_m1.analysis.compare import compare
    from tfprof_m1.views.compare_render import render_comparison

    if any(not label.strip() for label in args.label):
        raise UserError("--label '': give a name, such as 'batch 32'")
    sys.stdout.write(
        render_comparison(compare(args.reports, labels=args.label), markdown=args.format == "markdown")
    )
    return 0


def cmd_plot(argv: Sequence[str]) -> int:
    """Plot saved reports (the article's chart and the phases) to a PNG or SVG."""
    parser = _Parser(
        prog="python -m tfprof_m1 plot", description="Plot saved reports: the article's chart and the phases."
    )
    parser.add_argument("reports", nargs="+", metavar="REPORT.json")
    parser.add_argument("-o", "--output", required=True, metavar="FILE.png|FILE.svg")
    parser.add_argument(
        "--label", action="append", default=None, help="name the reports in order, as compare's --label"
    )
    args = parser.parse_args(argv)
    from tfprof_m1.views.plot import plot_reports

    print(f"wrote {plot_reports(args.reports, args.output, labels=args.label)}")
    return 0


def cmd_trace(argv: Sequence[str]) -> int:
    """Attribute a run directory's tf.profiler trace to phases."""
    parser = _Parser(
        prog="python -m tfprof_m1 trace",
        description=(
            "Attribute a run's tf.profiler trace to phases: op time per phase, top ops, host-only ops."
        ),
    )
    parser.add_argument(
        "run_dir",
        metavar="RUN_DIR",
        help="a run directory, Keras's TensorBoard log folder, or a folder of runs (each read apart)",
    )
    parser.add_argument("--format", choices=("table", "markdown", "json"), default="table")
    parser.add_argument(
        "--scope",
        action="append",
        default=[],
        metavar="SCOPE=PHASE",
        help="count ops under name scope SCOPE as phase PHASE (repeatable), e.g. --scope generator=generator",
    )
    args = parser.parse_args(argv)
    from pathlib import Path

    from tfprof_m1.analysis.assemble import trace_summaries
    from tfprof_m1.views.render import render_traces

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        hint = f"; give its folder, {run_dir.parent}" if run_dir.is_file() else ""
        raise UserError(f"{run_dir}: no such run directory{hint}")
    summaries = trace_summaries(run_dir, _scope_phases(args.scope))  # several runs: each apart
    if args.format == "json":
        import dataclasses
        import json

        data = [dataclasses.asdict(summary) for summary in summaries]
        sys.stdout.write(json.dumps(data[0] if len(data) == 1 else data, indent=1) + "\n")
    else:
        sys.stdout.write(render_traces(summaries, markdown=args.format == "markdown"))
    return 0


def cmd_sweep(argv: Sequence[str]) -> int:
    """Run one model over batch sizes (and devices), each point in a process of its own."""
    parser = _Parser(
        prog="python -m tfprof_m1 sweep",
        description="Run one model over batch sizes (and devices) with short runs: step time and throughput "
        "per batch size with intervals, and where the GPU starts to beat the CPU.",
    )
    parser.add_argument("model", choices=MODEL_NAMES, metavar="MODEL", help="mnist, fashion_mnist or cifar10")
    parser.add_argument(
        "--batch-sizes", default="16,32,64,128,256", help="comma-separated (default 16,32,64,128,256)"
    )
    parser.add_argument("--device", default="cpu", help="cpu, gpu or cpu,gpu (default cpu)")
    parser.add_argument(
        "--epochs",
        type=_positive,
        default=6,
        help="epochs per point, the first is warm-up; the intervals rest on the others (default 6)",
    )
    parser.add_argument("--steps", type=_positive, default=30, help="steps per epoch per point (default 30)")
    parser.add_argument("--data", choices=DATA_MODES, default="auto")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--no-download", action="store_true")
    parser.add_argument("--seed", type=_seed, default=0)
    parser.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="where each point's report, run directory and sweep.json go (default sweeps/MODEL-TIME)",
    )
    parser.add_argument(
        "-o", "--plot", default=None, metavar="FILE.png|FILE.svg", help="also plot throughput by batch size"
    )
    parser.add_argument("--format", choices=("table", "markdown", "json"), default="table")
    args = parser.parse_args(argv)
    from tfprof_m1.run.sweep import parse_batch_sizes, parse_devices, run_sweep
    from tfprof_m1.views.sweep_render import plot_sweep, render_sweep

    sizes, devices = parse_batch_sizes(args.batch_sizes), parse_devices(args.device)
    if args.data_dir is not None and not args.data_dir.strip():
        raise UserError("--data-dir '': give a directory, or leave the option out to use the Keras cache")
    check_keras_backend()
    import datetime as _dt

    out_dir = Path(args.out or f"sweeps/{args.model}-{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}")
    check_output_dir("--out", out_dir)
    if args.plot is not None:
        from tfprof_m1.views.plot import check_output

        check_output_dir("-o", check_output(Path(args.plot), "sweep.png").parent)
    # Fused steps only (no probe steps, no unprofiled stretches): with 30 steps an epoch, ten probe steps
    # would be a third of it and change with the batch size.
    point_args = [
        "--epochs",
        str(args.epochs),
        "--steps",
        str(args.steps),
        "--data",
        args.data,
        "--seed",
        str(args.seed),
        "--no-peak",
        "--min-samples",
        "0",
        "--sample-every",
        "1000000",
        "--reference-share",
        "0",
        *(["--data-dir", args.data_dir] if args.data_dir else []),
        *(["--no-download"] if args.no_download else []),
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    say = _say
    try:
        result = run_sweep(args.model, sizes, devices, out_dir, point_args, say)
    except KeyboardInterrupt as stop:  # sweep.json holds every point so far, each point its report
        done = getattr(stop, "result", None)
        reports = [point.report for point in done.points if point.report] if done is not None else []
        files = [str(path) for path in (*reports, out_dir / "sweep.json") if Path(path).is_file()]
        said = f"written: {', '.join(files)}" if files else "nothing was written"
        print(f"tfprof_m1: stopped by {signal_name(signal_of(stop))}; {said}", file=sys.stderr)
        return exit_status(signal_of(stop))
    text = (
        result.to_json() + "\n"
        if args.format == "json"
        else render_sweep(result, markdown=args.format == "markdown")
    )
    _write_stdout(text)
    if args.plot is not None:
        say(f"wrote {plot_sweep(result, Path(args.plot))}")
    say(f"sweep written to {out_dir / 'sweep.json'}")
    return EXIT_WRITE_FAILED if any(point.problem for point in result.points) else 0


def cmd_merge(argv: Sequence[str]) -> int:
    """The merged view of a multi-worker run's worker reports."""
    parser = _Parser(
        prog="python -m tfprof_m1 merge",
        description="The merged view of a multi-worker run: slowest worker per step, straggler gap, "
        "all-reduce share per worker, cluster throughput and scaling efficiency.",
    )
    parser.add_argument(
        "reports", nargs="+", metavar="WORKER.json", help="every worker's report (--json of each worker)"
    )
    parser.add_argument("--format", choices=("table", "markdown", "json"), default="table")
    args = parser.parse_args(argv)
    from tfprof_m1.analysis.merge import merge_reports
    from tfprof_m1.views.merge_render import render_merged

    view = merge_reports(args.reports)
    _write_stdout(
        view.to_json() + "\n"
        if args.format == "json"
        else render_merged(view, markdown=args.format == "markdown")
    )
    return 0


#: The longest ``launch --timeout``, in seconds.
MAX_LAUNCH_TIMEOUT_S = 7 * 24 * 3600


def max_local_workers() -> int:
    """The most local workers ``launch`` starts: four per CPU core, at least 8 (a rehearsal of a
    cluster, not of its speed; more TensorFlow processes than that only thrash the machine)."""
    return max(8, 4 * (os.cpu_count() or 1))


def cmd_launch(argv: Sequence[str]) -> int:
    """Start N local workers over loopback for a multi-worker rehearsal, then merge their reports."""
    parser = _Parser(
        prog="python -m tfprof_m1 launch",
        description="Rehearse a multi-worker run on this machine: start N workers (--strategy multiworker, "
        "TF_CONFIG over 127.0.0.1), wait, and print their merged view. Options after MODEL go to "
        "every worker (e.g. --epochs 3 --steps 100).",
    )
    parser.add_argument("--workers", type=_positive, default=2, help="local worker processes (default 2)")
    parser.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="run directories, worker reports and merged.json (default runs/multiworker-MODEL-TIME)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="end the workers after this long (default 3600)",
    )
    parser.add_argument("--format", choices=("table", "markdown", "json"), default="table")
    parser.add_argument("model", choices=MODEL_NAMES, metavar="MODEL", help="mnist, fashion_mnist or cifar10")
    parser.add_argument(
        "run_args", nargs=argparse.REMAINDER, metavar="...", help="run options for every worker"
    )
    args = parser.parse_args(argv)
    owned = [
        arg.split("=")[0]
        for arg in args.run_args
        if arg.split("=")[0] in ("--strategy", "--replicas", "--logdir", "--json", "--format")
    ]
    if owned:
        raise UserError(
            f"{owned[0]}: the launcher sets it for every worker (--out "
            "for where files go, --format for the merged view)"
        )
    if not 0 < args.timeout <= MAX_LAUNCH_TIMEOUT_S:  # NaN fails this too: it would never time out
        raise UserError(
            f"--timeout {args.timeout:g}: must be more than 0 seconds and at most "
            f"{MAX_LAUNCH_TIMEOUT_S:,} (a week)"
        )
    most = max_local_workers()
    if args.workers > most:
        raise UserError(
            f"--workers {args.workers}: at most {most} local workers on this machine "
            f"({os.cpu_count() or 1} CPU cores; each worker is a TensorFlow process)"
        )
    check_keras_backend()
    run_parser().parse_args([args.model, *args.run_args])  # the workers' options, checked before any starts
    import datetime as _dt

    out_dir = Path(
        args.out or f"runs/multiworker-{args.model}-{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"
    )
    check_output_dir("--out", out_dir)
    from tfprof_m1.analysis.merge import merge_reports
    from tfprof_m1.run.launch import launch
    from tfprof_m1.views.merge_render import render_merged

    say = _say
    stop: KeyboardInterrupt | None = None
    try:
        outcomes = launch([args.model, *args.run_args], args.workers, out_dir, args.timeout, say)
    except KeyboardInterrupt as error:
        stop, outcomes = error, getattr(error, "outcomes", [])
    failed = [o for o in outcomes if o.returncode != 0]
    for outcome in failed:
        how = "killed after the grace period" if outcome.killed else f"exit {outcome.returncode}"
        say(f"worker {outcome.index}: {how}" + (f": {outcome.last_line}" if outcome.last_line else ""))
    written = [str(o.report) for o in outcomes if o.report.is_file()]
    if outcomes and len(written) == len(outcomes):
        view = merge_reports(written)
        write_atomic(out_dir / "merged.json", view.to_json() + "\n")
        _write_stdout(
            view.to_json() + "\n"
            if args.format == "json"
            else render_merged(view, markdown=args.format == "markdown")
        )
        say(f"merged view written to {out_dir / 'merged.json'} (tensorboard --logdir {out_dir})")
    elif written:
        say(
            f"only {len(written)} of {len(outcomes)} workers wrote a report "
            f"({', '.join(written)}): no merged view"
        )
    if stop is not None:
        return exit_status(signal_of(stop))
    return EXIT_WRITE_FAILED if failed else 0


def _scope_phases(pairs: Sequence[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        scope, _, phase = pair.partition("=")
        if not scope or not phase or "/" in scope:
            raise UserError(
                f"--scope {pair!r}: expected SCOPE=PHASE, one name scope "
                "and a phase name, e.g. generator=generator"
            )
        mapping[scope] = phase
    return mapping


COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "show": cmd_show,
    "env": cmd_env,
    "compare": cmd_compare,
    "plot": cmd_plot,
    "trace": cmd_trace,
    "sweep": cmd_sweep,
    "merge": cmd_merge,
    "launch": cmd_launch,
}


def _say(line: str) -> None:
    """A progress line on stderr, whole (a line a message: logs and tests search them)."""
    print(line, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """The entry point: dispatch to a command; a user mistake is one line and exit status 2, a stop signal
    128+signal."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = COMMANDS.get(argv[0]) if argv else None
    # Ctrl-C and SIGTERM (timeout, docker stop, Slurm) end a run cleanly: finished epochs reported,
    # the trace saved; a second one aborts at once.
    guard = InterruptGuard(signals=(signal.SIGINT, signal.SIGTERM), abort_on_second=True)
    try:
        with guard:
            status = command(argv[1:]) if command is not None else cmd_run(argv)
            if guard.received is None or status != exit_status(guard.received):
                guard.check()  # a stop Python swallowed (raised in a __del__) still ends the run as a stop
            return status
    except UserError as error:
        print(f"tfprof_m1: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt as error:  # outside a model's run (cmd_run handles those): say what is on disk
        paths = written()
        said = f"written: {', '.join(paths)}" if paths else "nothing was written"
        print(f"tfprof_m1: stopped by {signal_name(signal_of(error))}; {said}", file=sys.stderr)
        return exit_status(signal_of(error))
    except BrokenPipeError:
        return 0
    except OSError as error:  # stdout itself failed (a full disk under a redirection)
        print(f"tfprof_m1: error: could not write the output: {error.strerror or error}", file=sys.stderr)
        return EXIT_WRITE_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
