"""The show command: render a saved report without training (imports no TensorFlow)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tfprof_m1.cli.common import Parser
from tfprof_m1.views.render import FORMATS, render

__all__ = ["cmd_show", "show_parser"]


def show_parser() -> argparse.ArgumentParser:
    """The show command's parser."""
    parser = Parser(prog="python -m tfprof_m1 show", description="Render a saved report without training.")
    parser.add_argument("report", metavar="REPORT.json")
    parser.add_argument("--format", choices=FORMATS, default="table")
    return parser


def cmd_show(argv: Sequence[str]) -> int:
    """Render a saved report without training."""
    args = show_parser().parse_args(argv)
    from tfprof_m1.report.model import load_report

    sys.stdout.write(render(load_report(args.report), args.format))
    return 0
