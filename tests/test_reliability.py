"""Nothing measured is ever lost: real signals to a real CLI process, outputs that fail mid-run,
a full disk, a read-only filesystem, SIGKILL during a write.

Each case is a row: the command, what happens to it while it runs, the exit code, the words of the
one line it must print, the files that must (or must not) exist afterwards. Refusals before any
training (bad options, output paths) are in test_cli.py; damaged and hostile data files (45 cases)
in test_datasets.py; hostile report files in test_report.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli
from tfprof_m1.report.model import load_report

pytestmark = [pytest.mark.slow]

# Long enough epochs (half a second or more each here) that a signal sent when epoch 1 ends lands in epoch 2.
SHORT = ["--steps", "200", "--data", "synthetic", "--no-peak"]
#: For runs that need no signal timing.
TINY = ["--steps", "20", "--data", "synthetic", "--no-peak"]


def _start(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tfprof_m1", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=os.environ.copy(),
        # a suite started in the background (`make test &`) inherits SIGINT ignored; a user's terminal does
        # not
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _signal_when(
    process: subprocess.Popen, line_part: str, signum: int, delay_s: float = 0.2
) -> tuple[str, str]:
    """Send ``signum`` once a stderr line contains ``line_part``; returns (stdout, stderr)."""
    lines = []
    for line in process.stderr:
        lines.append(line)
        if line_part in line:
            time.sleep(delay_s)
            process.send_signal(signum)
            break
    else:
        pytest.fail(f"never saw {line_part!r}: {''.join(lines)}")
    stdout, rest = process.communicate(timeout=180)
    return stdout, "".join(lines) + rest


def _clean(stderr: str) -> None:
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr


def _run_dir(logdir: Path, model: str) -> Path:
    (found,) = [path for path in logdir.iterdir() if path.name.startswith(model)]
    return found


@pytest.mark.parametrize("signum, executor", [(signal.SIGTERM, ()), (signal.SIGINT, ("--async-executor",))])
def test_a_stop_signal_in_epoch_2_leaves_a_readable_report_with_epoch_1_and_a_readable_trace(
    tmp_path, signum, executor
):
    process = _start(
        "mnist",
        "--epochs",
        "3",
        *SHORT,
        "--no-fit",
        "--logdir",
        "runs",
        "--json",
        "out.json",
        "--trace-steps",
        "190:196",
        *executor,
        cwd=tmp_path,
    )
    stdout, stderr = _signal_when(process, "loop epoch 1/3", signum)
    assert process.returncode == 128 + signum, stderr
    _clean(stderr)
    name = signal.Signals(signum).name
    last = stderr.strip().splitlines()[-1]
    run_dir = _run_dir(tmp_path / "runs", "mnist")
    assert (
        last.startswith(f"tfprof_m1: stopped by {name}; written: ")
        and f"{run_dir.name}/report.json" in last
        and "out.json" in last
    )
    assert f"INTERRUPTED: mnist: {name} in loop epoch 2 of 3" in stdout  # the table of what was measured
    saved = load_report(tmp_path / "out.json")
    assert saved.to_dict() == load_report(run_dir / "report.json").to_dict()
    (run,) = saved.runs
    assert run.epochs[0].complete and run.epochs[0].examples == 200 * 32
    assert all(not epoch.complete for epoch in run.epochs[1:]) and len(run.epochs) <= 2
    assert run.steady.epochs == [0] and run.interrupted.startswith(
        f"{name} in loop epoch 2 of 3: 1 finished epoch kept"
    )
    shown = run_cli("show", str(tmp_path / "out.json"))
    assert shown.returncode == 0 and "INTERRUPTED" in shown.stdout
    trace = run_cli("trace", str(run_dir), "--format", "json")  # the session was stopped and its trace saved
    assert trace.returncode == 0, trace.stderr
    assert json.loads(trace.stdout)["traced_steps"] == [190, 191, 192, 193, 194, 195]


def test_ctrl_c_during_fit_keeps_the_whole_loop_and_fits_finished_epochs(tmp_path):
    process = _start(
        "mnist", "--epochs", "3", *SHORT, "--no-trace", "--logdir", "runs", "--json", "out.json", cwd=tmp_path
    )
    stdout, stderr = _signal_when(process, "fit epoch 1/3", signal.SIGINT)
    assert process.returncode == 130, stderr
    _clean(stderr)
    (run,) = load_report(tmp_path / "out.json").runs
    assert [epoch.complete for epoch in run.epochs] == [True, True, True] and run.steady.epochs == [1, 2]
    assert run.fit is not None and len(run.fit.epoch_ms) == 1
    assert run.interrupted.startswith(
        "SIGINT in keras fit epoch 2 of 3: the loop is complete, fit has 1 finished epoch"
    )
    assert "INTERRUPTED: mnist" in stdout


def test_all_stopped_in_its_second_model_keeps_the_first_models_report(tmp_path):
    process = _start(
        "all",
        "--epochs",
        "2",
        *SHORT,
        "--no-fit",
        "--no-trace",
        "--logdir",
        "runs",
        "--json",
        "out.json",
        "--format",
        "markdown",
        cwd=tmp_path,
    )
    stdout, stderr = _signal_when(process, "[fashion_mnist] loop epoch 1/2", signal.SIGTERM)
    assert process.returncode == 143, stderr
    _clean(stderr)
    mnist, fashion = load_report(tmp_path / "out.json").runs
    assert mnist.model == "mnist" and mnist.interrupted is None and len(mnist.epochs) == 2
    assert fashion.model == "fashion_mnist" and fashion.interrupted.endswith("; not run: cifar10")
    assert load_report(_run_dir(tmp_path / "runs", "mnist") / "report.json").runs[0].interrupted is None
    assert load_report(_run_dir(tmp_path / "runs", "fashion_mnist") / "report.json").runs[0].interrupted
    assert "### mnist" in stdout and "### fashion_mnist" in stdout


def test_a_stop_before_training_says_nothing_was_written(tmp_path):
    process = _start("mnist", "--epochs", "1", *TINY, "--no-fit", "--logdir", "runs", cwd=tmp_path)
    # TensorFlow is imported and the device set up (a fixed delay raced the interpreter's start-up)
    _, stderr = _signal_when(process, "TensorFlow ", signal.SIGTERM, delay_s=0.0)
    assert process.returncode == 143 and "nothing was written" in stderr
    _clean(stderr)


def test_a_second_signal_while_the_first_is_handled_aborts_at_once():
    code = (
        "import os, signal, sys, time\n"
        "from tfprof_m1.collection.interrupt import InterruptGuard\n"
        "with InterruptGuard(signals=(signal.SIGINT, signal.SIGTERM), abort_on_second=True):\n"
        "    try:\n"
        "        os.kill(os.getpid(), signal.SIGTERM); time.sleep(5)\n"
        "    except KeyboardInterrupt:\n"
        "        print('first handled', flush=True)\n"
        "        os.kill(os.getpid(), signal.SIGINT); time.sleep(5)\n"  # as if writing the report
        "        print('still running', flush=True)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert result.stdout.splitlines() == ["first handled"]
    assert result.returncode == -signal.SIGINT  # ended by the signal itself, as the default handler would
    assert "second SIGINT: stopping at once" in result.stderr


def test_a_json_path_that_fails_after_training_is_one_line_and_everything_else_is_written(tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    process = _start(
        "mnist",
        "--epochs",
        "2",
        *SHORT,
        "--no-fit",
        "--no-trace",
        "--logdir",
        "runs",
        "--json",
        str(out_dir / "r.json"),
        cwd=tmp_path,
    )
    lines = []
    for line in process.stderr:  # training has started: the folder becomes a file
        lines.append(line)
        if "loop epoch 1/2" in line:
            shutil.rmtree(out_dir)
            out_dir.write_text("in the way")
            break
    stdout, rest = process.communicate(timeout=180)
    stderr = "".join(lines) + rest
    assert process.returncode == 1, stderr
    _clean(stderr)
    errors = [line for line in stderr.splitlines() if line.startswith("tfprof_m1: error:")]
    assert errors[0].startswith(
        f"tfprof_m1: error: could not write {out_dir / 'r.json'}: Not a directory; choose another --json path"
    )
    assert "1 output(s) could not be written" in errors[-1] and "report.json" in errors[-1]
    assert "mnist: custom-loop phases" in stdout  # the table still printed
    assert load_report(_run_dir(tmp_path / "runs", "mnist") / "report.json").runs[0].model == "mnist"
    assert out_dir.read_text() == "in the way"  # nothing of the user's was overwritten


def test_stdout_on_a_full_disk_is_one_line_and_the_json_is_written(tmp_path):
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "tfprof_m1",
                "mnist",
                "--epochs",
                "1",
                *TINY,
                "--no-fit",
                "--no-trace",
                "--logdir",
                "runs",
                "--json",
                "r.json",
                "--quiet",
            ],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            timeout=300,
        )
    assert result.returncode == 1, result.stderr
    _clean(result.stderr)
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("tfprof_m1: error: could not write the output: No space left on device")
    )
    assert load_report(tmp_path / "r.json").runs[0].model == "mnist"


def test_a_data_dir_whose_name_is_not_utf8_runs_and_writes_every_output(tmp_path):
    from tests.formats import learnable_images, write_mnist_npz

    data_dir = Path(os.fsdecode(bytes(tmp_path) + b"/data-\xff"))
    data_dir.mkdir()
    write_mnist_npz(data_dir, *learnable_images(64, (28, 28)))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfprof_m1",
            "mnist",
            "--epochs",
            "1",
            "--data",
            "real",
            "--data-dir",
            os.fsencode(data_dir),
            "--no-fit",
            "--no-trace",
            "--no-peak",
            "--logdir",
            "runs",
            "--json",
            "r.json",
        ],
        capture_output=True,
        cwd=tmp_path,
        timeout=300,
    )
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 0, stderr
    _clean(stderr)
    assert "data-\ufffd" in result.stdout.decode("utf-8")  # shown with the replacement character
    run_dir = _run_dir(tmp_path / "runs", "mnist")
    saved = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    assert saved["runs"][0]["data"]["path"] == str(data_dir / "mnist.npz")  # the file holds the exact path
    # read back as data, the undecodable byte is shown as an escape any terminal and encoder takes
    assert load_report(run_dir / "report.json").runs[0].data.path.endswith("data-\\udcff/mnist.npz")
    assert list(run_dir.glob("events.out.tfevents.*"))  # the TensorBoard text summary was written too


@pytest.fixture
def small_tmpfs():
    """A 1 MiB tmpfs filled to the last byte (root only: mounting needs CAP_SYS_ADMIN)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount_point = Path(tempfile.mkdtemp(prefix="tfprof_m1-full-"))
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], capture_output=True
    ).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        with open(mount_point / "filler", "wb") as filler:
            try:
                while True:
                    filler.write(bytes(65536))
                    filler.flush()
            except OSError:
                pass
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)
        mount_point.rmdir()


def test_a_full_disk_under_logdir_loses_no_figure_and_leaves_no_torn_trace(tmp_path, small_tmpfs):
    result = run_cli(
        "mnist",
        "--epochs",
        "2",
        "--steps",
        "30",
        "--data",
        "synthetic",
        "--no-peak",
        "--no-fit",
        "--logdir",
        str(small_tmpfs / "runs"),
        "--json",
        str(tmp_path / "r.json"),
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    _clean(result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("tfprof_m1: error:")]
    assert "report.json: No space left on device; free space there or choose another --logdir" in errors[0]
    assert "mnist: custom-loop phases" in result.stdout
    (run,) = load_report(tmp_path / "r.json").runs
    assert (
        len(run.epochs) == 2
        and "could not be collected" in run.trace_problem
        and "removed the torn" in run.trace_problem
    )
    assert not list((small_tmpfs / "runs").rglob("*.xplane.pb"))


def test_a_read_only_filesystem_is_refused_before_training(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting needs root")
    mount_point = tmp_path / "ro"
    mount_point.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mount_point)], capture_output=True
    ).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        started = time.monotonic()
        result = run_cli("mnist", "--data", "synthetic", "--logdir", str(mount_point / "runs"), cwd=tmp_path)
        assert result.returncode == 2 and f"{mount_point} is not writable" in result.stderr
        assert time.monotonic() - started < 60  # refused before any training
        _clean(result.stderr)
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)


def test_immutable_and_read_only_outputs_are_refused_before_training(tmp_path):
    """``chattr +i`` stops even root: an immutable --logdir or --json is refused up front, in one line,
    creating nothing and leaving the file as it was; so is a read-only report file."""
    logdir, report, read_only = (
        tmp_path / "frozen_logdir",
        tmp_path / "frozen.json",
        tmp_path / "read_only.json",
    )
    logdir.mkdir()
    report.write_text('{"keep": "me"}')
    read_only.write_text('{"keep": "me too"}')
    read_only.chmod(0o444)
    if any(
        subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode
        for path in (logdir, report)
    ):
        pytest.skip("chattr +i is not available here")
    try:
        frozen_dir = run_cli("mnist", "--data", "synthetic", "--logdir", str(logdir / "runs"), cwd=tmp_path)
        frozen_file = run_cli("mnist", "--data", "synthetic", "--json", str(report), cwd=tmp_path)
    finally:
        subprocess.run(["chattr", "-i", str(logdir), str(report)], check=False)
    assert frozen_dir.returncode == 2 and f"{logdir} is not writable" in frozen_dir.stderr
    assert (
        frozen_file.returncode == 2
        and "the existing file is not writable (read-only or immutable)" in frozen_file.stderr
    )
    if os.geteuid() != 0:  # root may write a 0444 file
        plain = run_cli("mnist", "--data", "synthetic", "--json", str(read_only), cwd=tmp_path)
        assert plain.returncode == 2 and "the existing file is not writable" in plain.stderr
    for result in (frozen_dir, frozen_file):
        _clean(result.stderr)
    assert (
        report.read_text() == '{"keep": "me"}'
        and not any(logdir.iterdir())
        and not (tmp_path / "runs").exists()
    )


def test_sigkill_during_report_writes_never_leaves_a_torn_report(tmp_path):
    """A process rewriting a large report again and again is killed at random moments: the file on
    disk is always a whole report, the old one or the new one."""
    from tests.report_factory import make_report

    target = tmp_path / "report.json"
    make_report().save(target)
    code = (
        "import sys\n"
        "from tests.report_factory import make_report\n"
        "report = make_report()\n"
        "report.runs = report.runs * 40\n"  # a few MB per write
        "print('writing', flush=True)\n"
        "while True:\n"
        f"    report.save({str(target)!r})\n"
    )
    for delay in (0.05, 0.13, 0.31):
        process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO)
        assert process.stdout.readline() == "writing\n"
        time.sleep(delay)
        process.kill()
        process.wait()
        assert load_report(target).runs  # complete and consistent
