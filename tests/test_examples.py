"""The examples run as users run them, and print what they promise."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.slow]


def _run(name: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / name), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def test_own_loop_example_prints_and_saves_the_report(tmp_path):
    out = _run("own_loop.py", "--steps", "20", "--epochs", "2", "--json", str(tmp_path / "gru.json"))
    assert "gru: training-loop phases" in out and "fence host_read" in out
    for phase in ("input", "call", "forward", "backward", "optimizer", "sync", "profiling", "other"):
        assert f"\n{phase} " in out, phase
    from tfprof_m1 import load_report

    assert load_report(tmp_path / "gru.json").run("gru").steady.samples > 0


def test_gan_example_attributes_its_own_phases_and_measures_its_cost(tmp_path):
    out = _run(
        "gan_step.py",
        "--steps",
        "40",
        "--epochs",
        "2",
        "--split-every",
        "5",
        "--logdir",
        str(tmp_path / "log"),
    )
    for phase in ("discriminator/clip", "generator/backward", "unprofiled", "trace", "other"):
        assert f"\n{phase} " in out, phase
    assert "profiling cost, end to end: " in out and "not measured" not in out
    assert "traced steps 45–54" in out


def test_fit_profile_example_writes_a_report(tmp_path):
    out = _run("fit_profile.py", "--steps", "15", "--epochs", "2", "--logdir", str(tmp_path / "fit"))
    assert "residual_cnn: Keras fit phases" in out and "\ncompute " in out
    assert (tmp_path / "fit" / "report.json").is_file()


def test_manual_phases_example():
    lines = [line for line in _run("manual_phases.py").splitlines() if line.startswith("epoch ")]
    assert len(lines) == 2 and "augment" in lines[1] and "compute" in lines[1] and "other" in lines[1]


def test_fit_timer_example():
    out = _run("fit_timer.py")
    assert "epoch 1 (warm-up)" in out and "steady mean" in out
