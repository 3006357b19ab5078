"""``python -m tfprof_m1``: the command line (see the tfprof_m1.cli package).

TensorFlow's C++ log lines are held back from stderr unless ``--verbose`` is given, and text output
fits 120 columns unless ``--wide`` is, each anywhere on the command line (see
:mod:`tfprof_m1.run.native_log` and :mod:`tfprof_m1.views.width`).
"""

from __future__ import annotations

import sys

__all__ = ["run"]

VERBOSE = "--verbose"
WIDE = "--wide"


def run(argv: list[str] | None = None) -> int:
    """The command line as ``python -m tfprof_m1`` and ``tfprof-m1`` run it."""
    from tfprof_m1.cli import main
    from tfprof_m1.run.native_log import native_logs_filtered

    args = list(sys.argv[1:] if argv is None else argv)
    if WIDE in args:
        from tfprof_m1.views.width import set_width

        set_width(None)
    with native_logs_filtered(verbose=VERBOSE in args):
        return main([arg for arg in args if arg not in (VERBOSE, WIDE)])


if __name__ == "__main__":
    sys.exit(run())
