"""The plot command: saved reports as the article's chart and a phase chart."""

from __future__ import annotations

from collections.abc import Sequence

from tfprof_m1.cli.common import Parser

__all__ = ["cmd_plot"]


def cmd_plot(argv: Sequence[str]) -> int:
    """Plot saved reports (the article's chart and the phases) to a PNG or SVG."""
    parser = Parser(
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
