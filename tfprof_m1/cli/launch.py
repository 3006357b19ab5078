"""The launch command: a multi-worker rehearsal, N local workers over loopback, then their merged view."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from tfprof_m1.base.errors import UserError
from tfprof_m1.base.files import write_atomic
from tfprof_m1.base.keras_backend import check_keras_backend
from tfprof_m1.base.safe_io import check_output_dir
from tfprof_m1.cli.common import EXIT_WRITE_FAILED, Parser, positive, say, write_stdout
from tfprof_m1.cli.merge import FORMATS, render_merged_view
from tfprof_m1.cli.run import config_from_args, run_parser
from tfprof_m1.collection.interrupt import exit_status, signal_of
from tfprof_m1.workloads.models import MODEL_NAMES

__all__ = ["MAX_LAUNCH_TIMEOUT_S", "OWNED_OPTIONS", "cmd_launch", "max_local_workers"]

#: The longest ``launch --timeout``, in seconds.
MAX_LAUNCH_TIMEOUT_S = 7 * 24 * 3600
#: Run options the launcher sets for every worker; a user giving them is told so.
OWNED_OPTIONS = ("--strategy", "--replicas", "--logdir", "--json", "--format")


def max_local_workers() -> int:
    """The most local workers ``launch`` starts: four per CPU core, at least 8 (a rehearsal of a
    cluster, not of its speed; more TensorFlow processes than that only thrash the machine)."""
    return max(8, 4 * (os.cpu_count() or 1))


def cmd_launch(argv: Sequence[str]) -> int:
    """Start N local workers over loopback for a multi-worker rehearsal, then merge their reports."""
    parser = Parser(
        prog="python -m tfprof_m1 launch",
        description="Rehearse a multi-worker run on this machine: start N workers (--strategy multiworker, "
        "TF_CONFIG over 127.0.0.1), wait, and print their merged view. Options after MODEL go to "
        "every worker (e.g. --epochs 3 --steps 100).",
    )
    parser.add_argument("--workers", type=positive, default=2, help="local worker processes (default 2)")
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
    parser.add_argument("--format", choices=FORMATS, default="table")
    parser.add_argument("model", choices=MODEL_NAMES, metavar="MODEL", help="mnist, fashion_mnist or cifar10")
    parser.add_argument(
        "run_args", nargs=argparse.REMAINDER, metavar="...", help="run options for every worker"
    )
    args = parser.parse_args(argv)
    owned = [arg.split("=")[0] for arg in args.run_args if arg.split("=")[0] in OWNED_OPTIONS]
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
    run_args = run_parser().parse_args([args.model, *args.run_args])  # checked before any worker starts
    config, output = config_from_args(run_args)
    import datetime as _dt

    out_dir = Path(
        args.out or f"runs/multiworker-{args.model}-{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"
    )
    check_output_dir("--out", out_dir)
    from tfprof_m1.analysis.merge import merge_reports
    from tfprof_m1.run.launch import launch

    stop: KeyboardInterrupt | None = None
    try:
        outcomes = launch(config, output, args.workers, out_dir, args.timeout, say, quiet=run_args.quiet)
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
        write_stdout(render_merged_view(view, args.format))
        say(f"merged view written to {out_dir / 'merged.json'} (tensorboard --logdir {out_dir})")
    elif written:
        say(
            f"only {len(written)} of {len(outcomes)} workers wrote a report "
            f"({', '.join(written)}): no merged view"
        )
    if stop is not None:
        return exit_status(signal_of(stop))
    return EXIT_WRITE_FAILED if failed else 0
