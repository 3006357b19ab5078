"""The run command, ``python -m tfprof_m1 MODEL``: train, profile and print the report.

Its parser is built from :class:`~tfprof_m1.report.model.RunConfig`'s field metadata (each field's
flag and help are written once, on the field; ``--no-X`` stores False in ``X``), so the parser and
a child's argv (:func:`tfprof_m1.run.child.config_argv`) read one description of the settings.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tfprof_m1 import __version__
from tfprof_m1.base.errors import UserError
from tfprof_m1.base.keras_backend import check_keras_backend
from tfprof_m1.base.progress import Progress
from tfprof_m1.base.safe_io import check_output_dir, check_output_file
from tfprof_m1.cli.common import (
    EXIT_WRITE_FAILED,
    Parser,
    end_with_error,
    end_with_stop,
    positive,
    say,
    seed,
    write_stdout,
)
from tfprof_m1.collection.environment import DEVICE_CHOICES
from tfprof_m1.collection.strategies import STRATEGIES
from tfprof_m1.report.model import Report, RunConfig
from tfprof_m1.run.fit_headline import FIT_JIT_COMPILE
from tfprof_m1.run.outputs import OutputSettings
from tfprof_m1.trace.window import parse_step_range
from tfprof_m1.views.render import FORMATS, render
from tfprof_m1.workloads.datasets import DATA_MODES
from tfprof_m1.workloads.models import MODEL_NAMES, MODELS

__all__ = ["VALUES", "add_config_option", "cmd_run", "config_from_args", "run_parser"]

#: What each RunConfig flag that takes a value accepts: a type, or a tuple of choices (the flag and
#: the help are on the field; the switches, ``--X`` and ``--no-X``, take nothing).
VALUES: dict[str, Callable[[str], Any] | tuple[str, ...]] = {
    "epochs": positive,
    "steps": positive,
    "batch_size": positive,
    "data": DATA_MODES,
    "data_dir": str,
    "device": DEVICE_CHOICES,
    "seed": seed,
    "sample_every": positive,
    "min_samples": int,
    "reference_share": float,
    "fenced_share": float,
    "repeats": positive,
    "fit_jit_compile": tuple(FIT_JIT_COMPILE),
    "strategy": STRATEGIES,
    "replicas": positive,
}

_FIELDS = {field.name: field for field in dataclasses.fields(RunConfig)}


def add_config_option(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, name: str, **overrides: Any
) -> None:
    """Add RunConfig field ``name``'s option to ``parser`` (or an argument group): its flag, help
    and default from the field, its values from :data:`VALUES`; ``overrides`` (a command's own
    ``default`` or ``help``) win."""
    field = _FIELDS[name]
    flag = field.metadata["flag"]
    options: dict[str, Any] = {"dest": name, "default": field.default, "help": field.metadata["help"]}
    if isinstance(field.default, bool):
        options["action"] = "store_false" if flag.startswith("--no-") else "store_true"
    else:
        values = VALUES[name]
        options["choices" if isinstance(values, tuple) else "type"] = values
    options.update(overrides)
    parser.add_argument(flag, **options)


def _model_list() -> str:
    return "\n".join(f"  {name:<14} {spec.summary}" for name, spec in MODELS.items())


def run_parser() -> argparse.ArgumentParser:
    """The run command's parser: a measuring flag for every RunConfig field, named, described and
    defaulted there, then where the outputs go."""
    parser = Parser(
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
    models = _FIELDS["models"].metadata
    parser.add_argument(
        "model", choices=[*MODEL_NAMES, "all"], metavar=models["metavar"], help=models["help"]
    )
    measuring = parser.add_argument_group("what to measure (kept in the report's config)")
    for name in _FIELDS:
        if name != "models":
            add_config_option(measuring, name)
    outputs = parser.add_argument_group("where the outputs go")
    outputs.add_argument(
        "--logdir",
        default=OutputSettings.logdir,
        help=(
            "each run gets its own directory here: TensorBoard events, the trace, report.json "
            f"(default {OutputSettings.logdir}/)"
        ),
    )
    outputs.add_argument(
        "--trace-steps",
        metavar="START:STOP",
        default=None,
        help=(
            "global steps to trace with tf.profiler, from 0, STOP exclusive (default: "
            "up to 10 steps in epoch 2)"
        ),
    )
    outputs.add_argument("--no-trace", dest="trace", action="store_false", help="no tf.profiler trace")
    outputs.add_argument(
        "--json", metavar="PATH", default=None, help="also write the report as JSON to PATH (atomically)"
    )
    outputs.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        help="stdout format: table, markdown (for GitHub issues) or json",
    )
    outputs.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument("--version", action="version", version=f"tfprof_m1 {__version__}")
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
    is the flag's destination (``--no-X`` flags store False in ``X``); run_benchmark checks it."""
    models = list(MODEL_NAMES) if args.model == "all" else [args.model]
    config = RunConfig(models=models, **{name: getattr(args, name) for name in _FIELDS if name != "models"})
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
    from tfprof_m1.collection.interrupt import TrainingInterrupted, signal_of
    from tfprof_m1.run.outputs import RunOutputs

    progress: Progress | None = None if args.quiet else say
    outputs = RunOutputs(json_path=json_path, say=say)
    try:
        report = run_benchmark(config, progress, outputs, output)
    except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM: what was measured is already written
        partial = stop.partial if isinstance(stop, TrainingInterrupted) else None
        if isinstance(partial, Report):  # run_benchmark's partial is the Report measured so far
            write_stdout(render(partial, args.format))
        return end_with_stop(signal_of(stop), outputs.summary() if outputs.written else "")
    if json_path is not None and progress and not outputs.failures:
        progress(f"report written to {json_path}")
    write_stdout(render(report, args.format))
    if outputs.failures:
        end_with_error(
            f"{len(outputs.failures)} output(s) could not be written (above); written: {outputs.summary()}"
        )
        return EXIT_WRITE_FAILED
    return 0
