"""The single-replica run a distributed run's scaling is measured against, in a process of its own.

Run inside the distributed run's process, the baseline would share what that run leaves there: its
distributed dataset iterators and their threads (15 more threads while they lived, measured on two
logical CPUs), compiled functions, a second logical device. Its first cifar10 measurement there was
40 % slower per step than in a fresh process (29.9 ms against 18.9–21.8 ms), on a host that was busy
with other jobs of ours at the time: not conclusive, and a fresh process removes the question. So
the baseline is ``python -m tfprof_m1 MODEL --strategy one`` (started through
:mod:`tfprof_m1.run.child`) with the run's own options, per-replica batch, no fit and no trace, on
the default device (one GPU where there are GPUs, else the CPU). Its report is kept next to the
run's (``baseline.json`` and a run directory under ``baseline/``), so the baseline can be read and
checked like any run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from pathlib import Path

from tfprof_m1.base.progress import Progress
from tfprof_m1.report.model import ModelRun, RunConfig, load_report
from tfprof_m1.run.child import GRACE_S, Child, stop_processes
from tfprof_m1.run.outputs import OutputSettings

__all__ = ["baseline_config", "run_baseline"]


def baseline_config(model: str, config: RunConfig, data: str) -> RunConfig:
    """The single-replica run's settings: the run's own (epochs, steps, batch per replica, seed,
    sampling, pipeline, device), one device, no fit, no peak, and the data the run used (``real``
    or ``synthetic``, so the baseline does not try a download again)."""
    return RunConfig(
        models=[model],
        epochs=config.epochs,
        steps=config.steps,
        batch_size=config.batch_size,
        data=data,
        data_dir=config.data_dir,
        device=config.device,
        seed=config.seed,
        fit=False,
        sample_every=config.sample_every,
        min_samples=config.min_samples,
        autotune=config.autotune,
        async_executor=config.async_executor,
        reference_share=config.reference_share,
        fenced_share=config.fenced_share,
        download=config.download,
        peak=False,
    )


def run_baseline(
    model: str, config: RunConfig, data: str, run_dir: Path | None, progress: Progress
) -> ModelRun:
    """Run the single-replica baseline in a fresh process (no trace); its epoch lines are relayed as
    ``baseline epoch``.

    Raises:
        RuntimeError: the baseline process failed (the line it ended with says why).
        KeyboardInterrupt: a stop signal arrived; the baseline process was stopped first.
    """
    with tempfile.TemporaryDirectory() as scratch:
        where = run_dir if run_dir is not None else Path(scratch)
        json_path = where / "baseline.json"
        environment = {
            key: value for key, value in os.environ.items() if key != "TF_CONFIG"
        }  # one process, no cluster
        output = OutputSettings(logdir=str(where / "baseline"), trace=False)
        with Child(
            baseline_config(model, config, data), output, json_path, env=environment, stderr=subprocess.PIPE
        ) as child:
            try:
                assert child.process.stderr is not None
                for line in child.process.stderr:  # progress, relayed; how it ended comes as a record
                    if "] loop epoch" in line:
                        progress(line.rstrip("\n").replace("loop epoch", "baseline epoch"))
                ended = child.result()
            except KeyboardInterrupt:
                stop_processes([child.process], signal.SIGTERM, GRACE_S)
                raise
        if ended.exit_status != 0:
            said = f": {ended.line}" if ended.line else ""
            raise RuntimeError(f"the single-replica baseline failed (exit {ended.exit_status}){said}")
        return load_report(json_path).run(model)
