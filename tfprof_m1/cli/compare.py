"""The compare command: where saved runs differ, the first the reference."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from tfprof_m1.base.errors import UserError
from tfprof_m1.cli.common import Parser

__all__ = ["cmd_compare"]


def cmd_compare(argv: Sequence[str]) -> int:
    """Compare saved reports; the first is the reference."""
    parser = Parser(
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
