"""The trace command: a run's tf.profiler trace attributed to phases."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from tfprof_m1.base.errors import UserError
from tfprof_m1.cli.common import Parser

__all__ = ["cmd_trace", "parse_scopes"]


def cmd_trace(argv: Sequence[str]) -> int:
    """Attribute a run directory's tf.profiler trace to phases."""
    parser = Parser(
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
    from tfprof_m1.analysis.assemble import trace_summaries
    from tfprof_m1.views.render import render_traces

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        hint = f"; give its folder, {run_dir.parent}" if run_dir.is_file() else ""
        raise UserError(f"{run_dir}: no such run directory{hint}")
    summaries = trace_summaries(run_dir, parse_scopes(args.scope))  # several runs: each apart
    if args.format == "json":
        import dataclasses
        import json

        data = [dataclasses.asdict(summary) for summary in summaries]
        sys.stdout.write(json.dumps(data[0] if len(data) == 1 else data, indent=1) + "\n")
    else:
        sys.stdout.write(render_traces(summaries, markdown=args.format == "markdown"))
    return 0


def parse_scopes(pairs: Sequence[str]) -> dict[str, str]:
    """``--scope SCOPE=PHASE`` options as {scope: phase}; UserError for one that is not a pair."""
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
