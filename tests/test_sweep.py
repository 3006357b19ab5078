"""sweep: points in processes of their own, intervals, the CPU-GPU crossover, reports compare reads."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli
from tfprof_m1.analysis.compare import compare
from tfprof_m1.analysis.sweep import SweepPoint, crossover
from tfprof_m1.base.errors import UserError
from tfprof_m1.cli.sweep import parse_batch_sizes, parse_devices
from tfprof_m1.report.interval import Interval

pytestmark = [pytest.mark.slow]


def _points(rates):
    """Recorded-shape points: {(device, batch): (low, high)} examples/s (a GPU's cannot be measured here)."""
    return [
        SweepPoint(
            device,
            batch,
            f"{device}-{batch}.json",
            5,
            Interval(1.0, 0.9, 1.1),
            Interval((low + high) / 2, low, high),
        )
        for (device, batch), (low, high) in rates.items()
    ]


def test_the_crossover_is_where_the_gpu_beats_the_cpu_at_that_size_and_every_larger_one():
    small_model = {
        ("cpu", 16): (900, 1000),
        ("gpu", 16): (400, 500),
        ("cpu", 64): (2000, 2200),
        ("gpu", 64): (1900, 2300),
        ("cpu", 256): (3000, 3300),
        ("gpu", 256): (6000, 6500),
        ("cpu", 1024): (3500, 3800),
        ("gpu", 1024): (12000, 13000),
    }
    assert crossover(_points(small_model)) == (
        "the GPU beats the CPU from batch 256 on; below it (16, 64) the CPU is as fast or faster"
    )
    cpu_wins = {
        ("cpu", 16): (900, 1000),
        ("gpu", 16): (400, 500),
        ("cpu", 64): (2000, 2200),
        ("gpu", 64): (900, 1000),
    }
    assert (
        crossover(_points(cpu_wins))
        == "the GPU never beats the CPU in batch 16–64: the CPU is faster at every size measured"
    )
    crossing_back = {
        ("cpu", 16): (900, 1000),
        ("gpu", 16): (1100, 1200),
        ("cpu", 64): (2000, 2200),
        ("gpu", 64): (1000, 1100),
    }
    assert crossover(_points(crossing_back)).startswith("the GPU never clearly beats the CPU")
    gpu_always = {("cpu", 16): (900, 1000), ("gpu", 16): (1100, 1200)}
    assert crossover(_points(gpu_always)) == "the GPU beats the CPU at every batch size measured (batch 16)"
    assert crossover(_points({("cpu", 16): (900, 1000)})).startswith("measured on cpu only")


def test_sweep_options_are_checked():
    assert parse_batch_sizes("64, 16,32") == [16, 32, 64]
    for bad in ("16,x", "16,16", "0", ""):
        with pytest.raises(UserError, match="--batch-sizes"):
            parse_batch_sizes(bad)
    assert parse_devices("cpu,gpu") == ["cpu", "gpu"]
    with pytest.raises(UserError, match="--device 'tpu'"):
        parse_devices("tpu")


def test_a_real_sweep_writes_points_that_compare_reads_and_a_plot(tmp_path):
    out = tmp_path / "sweep"
    result = run_cli(
        "sweep",
        "mnist",
        "--batch-sizes",
        "16,64",
        "--epochs",
        "4",
        "--steps",
        "10",
        "--data",
        "synthetic",
        "--out",
        str(out),
        "-o",
        str(tmp_path / "sweep.png"),
        "--format",
        "markdown",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "### mnist: batch-size sweep on cpu" in result.stdout
    assert "measured on cpu only: no CPU-GPU crossover to find" in result.stdout
    summary = json.loads((out / "sweep.json").read_text())
    assert [(p["device"], p["batch_size"], p["steady_epochs"]) for p in summary["points"]] == [
        ("cpu", 16, 3),
        ("cpu", 64, 3),
    ]
    for point in summary["points"]:
        rate = point["examples_per_s"]
        assert 0 < rate["low"] < rate["point"] < rate["high"]
    assert (tmp_path / "sweep.png").stat().st_size > 1000
    (comparison,) = compare([out / "mnist-cpu-b16.json", out / "mnist-cpu-b64.json"], labels=["b16", "b64"])
    assert comparison.differences[0].confounds[0].startswith("batch size: 16 against 64")
    bad = run_cli("sweep", "mnist", "--batch-sizes", "16,x", cwd=tmp_path)
    assert bad.returncode == 2 and "'x' is not a batch size" in bad.stderr and "Traceback" not in bad.stderr


def test_a_failing_point_shows_the_one_line_error_its_process_sent_back(tmp_path):
    empty = tmp_path / "no-data"
    empty.mkdir()
    out = tmp_path / "sweep"
    result = run_cli(
        "sweep", "mnist", "--batch-sizes", "16", "--epochs", "2", "--steps", "2", "--data", "real",
        "--data-dir", str(empty), "--no-download", "--out", str(out), "--format", "json", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    (point,) = json.loads((out / "sweep.json").read_text())["points"]
    assert point["report"] is None and point["problem"].startswith(f"MNIST not found in {empty}")
    assert "tfprof_m1:" not in point["problem"] and "\n" not in point["problem"]
    assert f"failed ({point['problem']})" in result.stderr
