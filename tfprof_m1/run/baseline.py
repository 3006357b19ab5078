"""The single-replica run a distributed run's scaling is measured against, in a process of its own.

Run inside the distributed run's process, the baseline would share what that run leaves there: its
distributed dataset iterators and their threads (15 more threads while they lived, measured on two
logical CPUs), compiled functions, a second logical device. Its first cifar10 measurement there was
40 % slower per step than in a fresh process (29.9 ms against 18.9–21.8 ms), on a host that was busy
with other jobs of ours at the time: not conclusive, and a fresh process removes the question. So
the baseline is ``python -m tfprof_m1 MODEL --strategy one`` with the run's own options,
per-replica batch, no fit and no trace, on the default device (one GPU where there are GPUs, else
the CPU). Its report is kept next to the run's (``baseline.json`` and a run directory under
``baseline/``), so the baseline can be read and checked like any run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from tfprof_m1.base.progress import Progress
from tfprof_m1.report.model import ModelRun, RunConfig, load_report

__all__ = ["run_baseline"]


def baseline_command(model: str, options: RunConfig, data: str, logdir: Path, json_path: Path) -> list[str]:
    """The command of the single-replica run: the run's options, one device, no fit, no trace, and
    the data the run used (``real`` or ``synthetic``, so the baseline does not try a download again)."""
    command = [
        sys.executable,
        "-m",
        "tfprof_m1",
        model,
        "--strategy",
        "one",
        "--epochs",
        str(options.epochs),
        "--batch-size",
        str(options.batch_size),
        "--data",
        data,
        "--device",
        options.device,
        "--seed",
        str(options.seed),
        "--sample-every",
        str(options.sample_every),
        "--min-samples",
        str(options.min_samples),
        "--reference-share",
        str(options.reference_share),
        "--no-fit",
        "--no-trace",
        "--no-peak",
        "--logdir",
        str(logdir),
        "--json",
        str(json_path),
    ]
    if options.steps is not None:
        command += ["--steps", str(options.steps)]
    if options.data_dir:
        command += ["--data-dir", options.data_dir]
    if not options.download:
        command.append("--no-download")
    if options.autotune:
        command.append("--autotune")
    if options.async_executor:
        command.append("--async-executor")
    return command


def run_baseline(
    model: str, options: RunConfig, data: str, run_dir: Path | None, progress: Progress
) -> ModelRun:
    """Run the single-replica baseline in a fresh process; its epoch lines are relayed as
    ``baseline epoch``.

    Raises:
        RuntimeError: the baseline process failed (its last line says why).
        KeyboardInterrupt: a stop signal arrived; the baseline process was stopped first.
    """
    with tempfile.TemporaryDirectory() as scratch:
        where = run_dir if run_dir is not None else Path(scratch)
        json_path = where / "baseline.json"
        environment = {
            key: value for key, value in os.environ.items() if key != "TF_CONFIG"
        }  # one process, no cluster
        process = subprocess.Popen(
            baseline_command(model, options, data, where / "baseline", json_path),
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            errors="replace",
            env=environment,
        )
        last = ""
        try:
            assert process.stderr is not None
            for line in process.stderr:
                line = line.rstrip("\n")
                last = line or last
                if "] loop epoch" in line:
                    progress(line.replace("loop epoch", "baseline epoch"))
            process.wait()
        except KeyboardInterrupt:
            process.send_signal(signal.SIGTERM)
            process.wait()
            raise
        if process.returncode != 0:
            raise RuntimeError(f"the single-replica baseline failed (exit {process.returncode}): {last}")
        return load_report(json_path).run(model)
