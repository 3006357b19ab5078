"""How long a run takes to stop after SIGTERM or Ctrl-C: the end of the current step, the trace
saved, the report built and written, the table printed.

    .venv/bin/python benchmarks/stop_latency.py --model cifar10 --repeats 3

Starts ``python -m tfprof_m1 MODEL`` (3 epochs of 300 steps, trace in epoch 2, no fit), sends the
signal half a second after epoch 1 ends (so it lands mid-epoch 2, inside the trace window for
cifar10), and times from the signal to the process's exit with the parent's monotonic clock. The
cross-check is the exit status and the report: a run that did not stop cleanly (exit other than
128 + signal, or no readable report) is printed as such, not timed. ``docker stop`` waits 10 s
before SIGKILL; Slurm's default KillWait is 30 s.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def stop_once(model: str, signum: int) -> float | None:
    from tfprof_m1.report.model import load_report

    with tempfile.TemporaryDirectory() as directory:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tfprof_m1",
                model,
                "--epochs",
                "3",
                "--steps",
                "300",
                "--data",
                "synthetic",
                "--no-fit",
                "--no-peak",
                "--trace-steps",
                "300:310",
                "--json",
                "out.json",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=directory,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        for line in process.stderr:
            if "loop epoch 1/3" in line:
                break
        time.sleep(0.5)
        sent = time.monotonic()
        process.send_signal(signum)
        process.communicate(timeout=300)
        elapsed = time.monotonic() - sent
        report = Path(directory, "out.json")
        if (
            process.returncode != 128 + signum
            or not report.exists()
            or not load_report(report).runs[0].interrupted
        ):
            print(f"did not stop cleanly: exit {process.returncode}", file=sys.stderr)
            return None
        return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cifar10")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for signum in (signal.SIGTERM, signal.SIGINT):
        times = [t for t in (stop_once(args.model, signum) for _ in range(args.repeats)) if t is not None]
        if times:
            print(
                f"| {args.model} | {signal.Signals(signum).name} | {len(times)} of {args.repeats} | "
                f"{statistics.median(times):.2f} s | {min(times):.2f}–{max(times):.2f} s |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
