"""``python -m tfprof_m1``: the command line (see tfprof_m1.cli)."""

import sys

from tfprof_m1.cli import main

sys.exit(main())
