import sys

from tfprof_m1.cli import main

sys.exit(main())
