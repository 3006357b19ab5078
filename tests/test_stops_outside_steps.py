"""Stops that land outside a training step — after the loop, while the report is built or written,
between two models, in epoch 1, in a sweep — lose nothing measured, and the last line says exactly
what is on disk.

Signals are real and delivered to this process by the progress callback when a given line is said,
so each lands at a known point; the CLI and sweep cases are real processes."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tfprof_m1.collection.interrupt import InterruptGuard, TrainingInterrupted
from tfprof_m1.report.model import RunConfig, load_report
from tfprof_m1.run.bench import run_benchmark
from tfprof_m1.run.outputs import OutputSettings, RunOutputs

pytestmark = [pytest.mark.tf]


def _stopped_at(tmp_path: Path, line_part: str, **settings) -> tuple[TrainingInterrupted, RunOutputs, list]:
    """Run a tiny benchmark, sending SIGTERM to this process when a progress line holds ``line_part``;
    (the stop raised, the outputs, the progress lines)."""
    lines: list[str] = []

    def progress(line: str) -> None:
        lines.append(line)
        if line_part in line and sum(line_part in seen for seen in lines) == 1:
            os.kill(os.getpid(), signal.SIGTERM)

    config = RunConfig(
        **{"models": ["mnist"], "epochs": 2, "steps": 6, "data": "synthetic", "peak": False, **settings}
    )
    outputs = RunOutputs(json_path=tmp_path / "out.json")
    with InterruptGuard(signals=(signal.SIGTERM,)):  # as the command line's guard
        with pytest.raises(TrainingInterrupted) as stop:
            run_benchmark(config, progress, outputs, OutputSettings(logdir=str(tmp_path / "runs")))
    return stop.value, outputs, lines


def test_a_stop_while_the_trace_is_read_keeps_the_whole_run_and_writes_it(tmp_path):
    stop, outputs, lines = _stopped_at(tmp_path, "traced steps", fit=False)
    assert stop.signum == signal.SIGTERM
    (run,) = stop.partial.runs
    assert run.interrupted is None and all(epoch.complete for epoch in run.epochs)  # nothing was cut
    assert run.trace is not None  # the trace was read to the end
    saved = load_report(tmp_path / "out.json")
    assert [epoch.wall_ms for epoch in saved.runs[0].epochs] == [epoch.wall_ms for epoch in run.epochs]
    assert all(Path(path.split(" (")[0]).exists() for path in outputs.written)
    assert str(tmp_path / "out.json") in outputs.written


def test_a_stop_as_fit_starts_keeps_the_loop_and_says_fit_has_no_epoch(tmp_path):
    stop, _, lines = _stopped_at(tmp_path, "keras fit:")
    (run,) = stop.partial.runs
    assert all(epoch.complete for epoch in run.epochs) and len(run.epochs) == 2
    assert run.interrupted.startswith("SIGTERM in keras fit epoch 1 of 2: the loop is complete")
    assert not any("fit epoch 1/2" in line for line in lines)  # fit did not train on
    assert load_report(tmp_path / "out.json").runs[0].interrupted == run.interrupted


def test_a_stop_as_the_loop_ends_keeps_every_epoch_and_does_not_start_fit(tmp_path):
    stop, _, lines = _stopped_at(tmp_path, "loop epoch 2/2")
    (run,) = stop.partial.runs
    assert [epoch.complete for epoch in run.epochs] == [True, True] and run.fit is None
    assert run.interrupted.startswith("SIGTERM as the loop ended: 2 finished epochs kept")
    assert not any("keras fit" in line for line in lines)


def test_a_stop_between_two_models_says_on_the_first_what_was_not_run(tmp_path):
    stop, outputs, _ = _stopped_at(
        tmp_path, "[fashion_mnist] run directory", models=["mnist", "fashion_mnist"], fit=False
    )
    (mnist,) = stop.partial.runs
    assert mnist.model == "mnist" and all(epoch.complete for epoch in mnist.epochs)
    assert mnist.interrupted == "SIGTERM before fashion_mnist had timed a step; not run: fashion_mnist"
    assert load_report(tmp_path / "out.json").runs[0].interrupted == mnist.interrupted
    run_dir_report = next((tmp_path / "runs").glob("mnist-*/report.json"))
    assert load_report(run_dir_report).runs[0].interrupted is None  # the model's own report is complete


def _cli(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tfprof_m1", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _said_files(line: str) -> set[str]:
    return {path.split(" (")[0] for path in line.split("written: ", 1)[1].split(", ")}


@pytest.mark.slow
def test_a_stop_while_the_table_is_printed_lists_exactly_the_files_on_disk(tmp_path):
    process = _cli(
        "mnist", "--epochs", "3", "--steps", "30", "--repeats", "2", "--no-fit", "--no-peak", "--data",
        "synthetic", "--logdir", "runs", "--json", "out.json", "--format", "json", cwd=tmp_path,
    )  # fmt: skip
    # stdout is a pipe nobody reads until the stop: the JSON table blocks there. It is about 64 KiB,
    # Linux's default pipe capacity, so the pipe is shrunk to a page where the system allows it (a
    # JSON that fitted would let the process end before the stop, racing it).
    capacity = 65536
    if hasattr(fcntl, "F_SETPIPE_SZ"):
        capacity = fcntl.fcntl(process.stdout.fileno(), fcntl.F_SETPIPE_SZ, 4096)
    err = []
    for line in process.stderr:
        err.append(line.rstrip())
        if "report written to" in line:
            break
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    err += process.stderr.read().splitlines()
    process.stdout.read()
    process.wait(timeout=120)
    assert process.returncode == 130, (capacity, err)  # -2: the process ended before the stop
    (last,) = [line for line in err if line.startswith("tfprof_m1:")]
    said = {str((tmp_path / path).resolve()) for path in _said_files(last)}  # relative to the run's folder
    assert said == {str(path.resolve()) for path in tmp_path.rglob("*.json")}


@pytest.mark.slow
def test_a_stop_in_a_sweep_keeps_the_running_points_report_in_sweep_json(tmp_path):
    from tests.formats import learnable_images, write_mnist_npz

    write_mnist_npz(tmp_path, *learnable_images(960, (28, 28)))
    out = tmp_path / "sweep"
    process = subprocess.Popen(
        [sys.executable, "-m", "tfprof_m1", "sweep", "mnist", "--batch-sizes", "16,32", "--data", "real",
         "--data-dir", str(tmp_path), "--no-download", "--epochs", "6", "--steps", "60", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, start_new_session=True,
    )  # fmt: skip
    started = time.monotonic()
    while not any(out.glob("runs/*")) and time.monotonic() - started < 300:
        time.sleep(0.1)  # the first point has made its run directory
    time.sleep(5)  # and is training
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole foreground group
    _, err = process.communicate(timeout=300)
    assert process.returncode == 130, err
    said = [line for line in err.splitlines() if line.startswith("tfprof_m1:")]
    assert len(said) == 1 and "nothing was written" not in said[0]
    sweep = json.loads((out / "sweep.json").read_text())
    points = sorted(str(path) for path in out.glob("mnist-cpu-b*.json"))
    assert points and sorted(point["report"] for point in sweep["points"] if point["report"]) == points
    assert _said_files(said[0]) == {*points, str(out / "sweep.json")}
