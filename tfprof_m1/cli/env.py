"""The env command: what this machine is, as a report records it."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from tfprof_m1.base.keras_backend import check_keras_backend
from tfprof_m1.cli.common import Parser
from tfprof_m1.collection.environment import DEVICE_CHOICES
from tfprof_m1.views.render import FORMATS

__all__ = ["cmd_env"]


def cmd_env(argv: Sequence[str]) -> int:
    """Print this machine's environment as a report records it."""
    parser = Parser(
        prog="python -m tfprof_m1 env", description="Print what this machine is, as a report records it."
    )
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
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
