"""The examples run as users run them, and print what they promise."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.slow]


#: Runs each example as ``python examples/NAME ARGS`` would (``runpy``, ``__main__``, its own
#: ``sys.argv``) in one interpreter, so TensorFlow is imported once for all of them; each one's
#: stdout and stderr are kept apart and a failing example does not stop the others.
_RUNNER = """
import contextlib, io, json, runpy, sys, traceback
results = {}
for name, args in json.loads(sys.argv[1]):
    out, err, code = io.StringIO(), io.StringIO(), 0
    sys.argv = [name, *args]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            runpy.run_path(name, run_name="__main__")
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
    results[name] = {"stdout": out.getvalue(), "stderr": err.getvalue(), "returncode": code}
sys.__stdout__.write(json.dumps(results))
"""


def _example_args(tmp: Path) -> dict[str, list[str]]:
    return {
        "own_loop.py": ["--steps", "20", "--epochs", "2", "--json", str(tmp / "gru.json")],
        "gan_step.py": ["--steps", "40", "--epochs", "2", "--split-every", "5", "--logdir", str(tmp / "log")],
        "fit_profile.py": ["--steps", "15", "--epochs", "2", "--logdir", str(tmp / "fit")],
        "manual_phases.py": [],
        "fit_timer.py": [],
    }


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> tuple[Path, dict[str, dict]]:
    """Every example run once with small sizes: (their output folder, name -> stdout, stderr, returncode)."""
    tmp = tmp_path_factory.mktemp("examples")
    runs = [(str(REPO / "examples" / name), args) for name, args in _example_args(tmp).items()]
    result = subprocess.run(
        [sys.executable, "-c", _RUNNER, json.dumps(runs)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = json.loads(result.stdout.strip().splitlines()[-1])
    return tmp, {Path(name).name: value for name, value in outputs.items()}


def _run(examples: tuple[Path, dict[str, dict]], name: str) -> str:
    result = examples[1][name]
    assert result["returncode"] == 0, result["stderr"]
    assert "Traceback" not in result["stderr"]
    return result["stdout"]


def test_own_loop_example_prints_and_saves_the_report(examples):
    out, tmp_path = _run(examples, "own_loop.py"), examples[0]
    assert "gru: training-loop phases" in out and "fence host_read" in out
    for phase in ("input", "call", "forward", "backward", "optimizer", "sync", "profiling", "other"):
        assert f"\n{phase} " in out, phase
    from tfprof_m1 import load_report

    assert load_report(tmp_path / "gru.json").run("gru").steady.samples > 0


def test_gan_example_attributes_its_own_phases_and_measures_its_cost(examples):
    out = _run(examples, "gan_step.py")
    for phase in ("discriminator/clip", "generator/backward", "unprofiled", "trace", "other"):
        assert f"\n{phase} " in out, phase
    assert "profiling cost, end to end: " in out and "not measured" not in out
    # the library's default window, off the second epoch's stretch (its steps 3-15: the layout of a
    # run's second epoch starts near the epoch's start): steps 16-25
    assert "traced steps 56–65" in out


def test_fit_profile_example_writes_a_report(examples):
    out, tmp_path = _run(examples, "fit_profile.py"), examples[0]
    assert "residual_cnn: Keras fit phases" in out and "\ncompute " in out
    assert (tmp_path / "fit" / "report.json").is_file()


def test_manual_phases_example(examples):
    lines = [line for line in _run(examples, "manual_phases.py").splitlines() if line.startswith("epoch ")]
    assert len(lines) == 2 and "augment" in lines[1] and "compute" in lines[1] and "other" in lines[1]


def test_fit_timer_example(examples):
    out = _run(examples, "fit_timer.py")
    assert "epoch 1 (warm-up)" in out and "steady mean" in out
