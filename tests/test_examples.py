"""The examples run as users run them, and print what they promise."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def _run(name: str, *args: str) -> str:
    result = subprocess.run([sys.executable, str(REPO / "examples" / name), *args], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def test_own_loop_example():
    out = _run("own_loop.py", "--steps", "10", "--epochs", "2")
    assert "fence: host_read" in out
    lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 2
    for phase in ("input", "forward", "backward", "optimizer", "sync", "other"):
        assert phase in lines[1]


def test_manual_phases_example():
    lines = [line for line in _run("manual_phases.py").splitlines() if line.startswith("epoch ")]
    assert len(lines) == 2 and "augment" in lines[1] and "compute" in lines[1] and "other" in lines[1]


def test_fit_timer_example():
    out = _run("fit_timer.py")
    assert "epoch 1 (warm-up)" in out and "steady mean" in out
