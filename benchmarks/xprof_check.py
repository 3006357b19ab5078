"""Does XProf agree with tfprof_m1 on the traced steps? Runs a model, opens its trace in a real
TensorBoard on loopback, and compares the overview page's average step time with the report's own
timing of the same steps.

    .venv/bin/python benchmarks/xprof_check.py cifar10            # default run: 3 epochs, whole epochs

Prints a Markdown table for docs/performance.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.tensorboard_server import TensorBoard  # noqa: E402


def main() -> int:
    model = sys.argv[1] if len(sys.argv) > 1 else "cifar10"
    extra = sys.argv[2:]
    logdir = Path(tempfile.mkdtemp(prefix="xprof-check-"))
    command = [
        sys.executable,
        "-m",
        "tfprof_m1",
        model,
        "--no-fit",
        "--logdir",
        str(logdir),
        "--quiet",
        *extra,
    ]
    print("running:", " ".join(command[1:]), file=sys.stderr)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    (run_dir,) = logdir.iterdir()
    trace = json.loads((run_dir / "report.json").read_text())["runs"][0]["trace"]
    with TensorBoard(logdir) as board:
        runs = board.wait_for(lambda: board.get("/data/plugin/profile/runs"), "the profile run")
        overview = board.overview_page(runs[0])
    xprof_ms = float(overview["steptime_ms_average"])
    ours = trace["timing_step_ms_mean"]
    print("| figure | value |")
    print("|---|---|")
    print(
        f"| traced steps | {trace['traced_steps'][0]}–{trace['traced_steps'][-1]} "
        f"({trace['step_markers']} markers) |"
    )
    print(
        f"| XProf overview page: average step time (ms) | {xprof_ms:.2f} "
        f"(min {overview['steptime_ms_minimum']}, max {overview['steptime_ms_maximum']}) |"
    )
    print(f"| tfprof_m1 timing, mean of the same steps (ms) | {ours:.2f} |")
    print(f"| tfprof_m1 step markers in the trace, mean (ms) | {trace['step_ms_mean']:.2f} |")
    print(f"| XProf / tfprof_m1 | {xprof_ms / ours:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
