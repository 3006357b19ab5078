"""The merge command: the merged view of a multi-worker run's worker reports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tfprof_m1.cli.common import Parser, write_stdout

if TYPE_CHECKING:
    from tfprof_m1.analysis.merge import MergedView

__all__ = ["FORMATS", "cmd_merge", "render_merged_view"]

#: The merged view's formats (merge's and launch's --format).
FORMATS = ("table", "markdown", "json")


def render_merged_view(view: MergedView, format: str) -> str:
    """The merged view as ``format`` (table, markdown or json) text."""
    from tfprof_m1.views.merge_render import render_merged

    if format == "json":
        return view.to_json() + "\n"
    return render_merged(view, markdown=format == "markdown")


def cmd_merge(argv: Sequence[str]) -> int:
    """The merged view of a multi-worker run's worker reports."""
    parser = Parser(
        prog="python -m tfprof_m1 merge",
        description="The merged view of a multi-worker run: slowest worker per step, straggler gap, "
        "all-reduce share per worker, cluster throughput and scaling efficiency.",
    )
    parser.add_argument(
        "reports", nargs="+", metavar="WORKER.json", help="every worker's report (--json of each worker)"
    )
    parser.add_argument("--format", choices=FORMATS, default="table")
    args = parser.parse_args(argv)
    from tfprof_m1.analysis.merge import merge_reports

    write_stdout(render_merged_view(merge_reports(args.reports), args.format))
    return 0
