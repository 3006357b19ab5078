"""The command line end to end, as subprocesses, the way users run it."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli
from tests.formats import learnable_images, write_mnist_npz
from tfprof_m1.collection.fence import select_fence_kind
from tfprof_m1.collection.loop import DEFAULT_BUDGET
from tfprof_m1.report.model import SCHEMA_VERSION, load_report


def _fence_rule(environment: dict) -> str:
    """The fence the rule picks for the GPUs a report's environment lists (on any machine)."""
    details = [
        {"compute_capability": gpu["compute_capability"]} if gpu["compute_capability"] else {}
        for gpu in environment["gpus"]
    ]
    build = environment["build"]
    return select_fence_kind(
        details, build.get("is_cuda_build") == "True", build.get("is_rocm_build") == "True"
    )


pytestmark = [pytest.mark.slow]


def _no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr


def _error_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("tfprof_m1: error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def cifar_run(tmp_path_factory):
    """One real run: cifar10, 2 epochs of 20 steps, synthetic data, with fit, report saved. The fixed
    sampling rule, --sample-every 1: every profiled step a probe, as the old floor of 10 an epoch made
    them (the default budget: test_budget_sampling.py and test_the_default_sampling_is_a_budget)."""
    out = tmp_path_factory.mktemp("run") / "nested" / "report.json"
    result = run_cli(
        "cifar10",
        "--epochs",
        "2",
        "--steps",
        "20",
        "--data",
        "synthetic",
        "--sample-every",
        "1",
        "--json",
        str(out),
    )
    return result, out


def test_the_default_sampling_is_a_budget(tmp_path):
    """A run with the sampling knobs left alone samples by budget: one probe step an epoch of 60
    (the budget's share of 60 steps at 1.5 steps a probe, over it in a run's first two epochs), and
    the report says so."""
    out = tmp_path / "report.json"
    result = run_cli(
        "mnist", "--epochs", "2", "--steps", "60", "--data", "synthetic", "--no-fit", "--json", str(out)
    )
    assert result.returncode == 0, result.stderr
    (run,) = load_report(out).runs
    assert run.sample_budget == DEFAULT_BUDGET and run.sample_every is None and run.min_samples is None
    assert [epoch.step_kinds.count("probe") for epoch in run.epochs] == [1, 1]
    assert run.steady.profiling_cost is not None
    # the progress line names the first epoch's plan as such (the count varies, pooled) and counts in words
    prefixes = ("[mnist] sampling:", "[mnist] custom loop:")
    loop, sampling = (line for line in result.stderr.splitlines() if line.startswith(prefixes))
    assert loop.startswith("[mnist] custom loop: 2 epochs × 60 steps of 32, fence ")
    assert loop.endswith("; epoch 1: 1 probe step, 20 unprofiled steps")
    assert sampling == (
        f"[mnist] sampling: probe steps and fences by a {DEFAULT_BUDGET * 100:g} % budget, "
        "10 % of steps unprofiled, pooled over epochs"
    )
    assert len(loop) <= 120 and len(sampling) <= 120  # the progress lines fit a terminal
    # block steps share their block's compute: the report says whose spread the IQR is
    assert "steps run in blocks share their block's compute" in " ".join(result.stdout.split())


def test_fenced_share_fences_that_share_of_the_fused_steps(tmp_path):
    """--fenced-share 1 fences every fused step one by one (no block steps), the progress line says
    so, and the report records the setting; a share outside [0, 1] is refused in one line."""
    out = tmp_path / "report.json"
    result = run_cli(
        "mnist", "--epochs", "2", "--steps", "30", "--data", "synthetic", "--no-fit",
        "--fenced-share", "1", "--json", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = load_report(out)
    assert report.config.fenced_share == 1.0
    for epoch in report.runs[0].epochs:
        assert "block" not in epoch.step_kinds and epoch.step_kinds.count("fused") > 0
    assert "100 % of fused steps fenced one by one" in result.stderr
    assert "steps run in blocks" not in " ".join(result.stdout.split())  # every step its own spread
    refused = run_cli("mnist", "--fenced-share", "2", "--data", "synthetic")
    assert refused.returncode != 0 and "--fenced-share 2.0: a share of the fused steps" in refused.stderr
    _no_traceback(refused)


def test_run_succeeds_with_headline_then_phase_table(cifar_run):
    result, out = cifar_run
    assert result.returncode == 0, result.stderr
    _no_traceback(result)
    stdout = result.stdout
    assert stdout.index("Headline") < stdout.index("cifar10: custom-loop phases")
    for phase in ("input", "forward", "backward", "optimizer", "sync", "other"):
        assert f"\n{phase} " in stdout
    assert "framework overhead" in stdout
    # progress went to stderr, epoch by epoch, for the loop and for fit
    for line in (
        "[cifar10] loop epoch 1/2",
        "[cifar10] loop epoch 2/2",
        "[cifar10] fit epoch 2/2",
        "synthetic data: chosen with --data synthetic",
        # the fixed rule (--sample-every 1), the first epoch's plan
        "[cifar10] sampling: 1 step in 1 a probe step (at least 10 an epoch), 10 % of steps "
        "unprofiled, pooled over epochs",
        "; epoch 1: 14 probe steps, 6 unprofiled steps\n",
    ):
        assert line in result.stderr
    assert out.is_file()


def test_report_json_is_complete_and_consistent(cifar_run):
    _, out = cifar_run
    data = json.loads(out.read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["config"]["steps"] == 20 and data["config"]["epochs"] == 2
    (run,) = data["runs"]
    assert run["fence"]["name"] == _fence_rule(data["environment"]) and run["fence"]["calls"] > 0
    assert data["environment"]["device_kind"] == ("gpu" if data["environment"]["gpus"] else "cpu")
    assert run["data"]["source"] == "synthetic" and run["data"]["examples"] == 50_000
    assert run["forward_flops_per_example"] > 0
    assert [e["warmup"] for e in run["epochs"]] == [True, False]
    # 20 steps: a 6-step stretch (a third of the epoch) after a probe step runs unprofiled in each of
    # a run's first two epochs (the second's at steps 2-7: its layout starts near the epoch's
    # start); the default trace window moves off it (epoch 2's steps 8-17), so the steady epoch
    # keeps its cost reference; with --sample-every 1, all other steps are probes
    first, second = run["epochs"]
    assert [stretch[0] for stretch in first["stretches"]] == [6] == [s[0] for s in second["stretches"]]
    assert run["trace"]["traced_steps"] == list(range(28, 38))
    # every traced step is a probe step here (--sample-every 1): the trace says so
    assert any(
        note.startswith("traced steps 28, 29, 30, 31, 32, 33, 34, 35, 36, 37 are probe steps")
        for note in run["trace"]["notes"]
    )
    loaded = load_report(out).runs[0].epochs  # per-step values are packed in the file (schema 8)
    assert loaded[1].step_kinds.count("probe") == 14
    for epoch, read, profiled in zip(run["epochs"], loaded, (14, 14)):
        assert epoch["steps"] == profiled and len(read.step_kinds) == profiled
        assert epoch["sampled_steps"] == 14 == len(read.samples)
        assert epoch["fence_idle_ms"] > 0
        assert sum(p["total_ms"] for p in epoch["phases"]) == pytest.approx(epoch["wall_ms"])
        assert all(p["total_ms"] >= 0 for p in epoch["phases"] if p["phase"] != "other")
        assert all(len(values) == profiled for values in read.step_ms.values())
    steady = run["steady"]
    assert steady["epochs"] == [1] and steady["excludes_first_epoch"] is True
    assert [p["part"] for p in steady["parts"]] == ["call", "forward", "backward", "optimizer"]
    for part in steady["parts"]:
        assert part["share"]["low"] <= part["share"]["point"] <= part["share"]["high"]
    assert steady["samples"] == 14 and steady["execution"]["mode"] in ("synchronous", "asynchronous")
    if data["environment"]["device_kind"] == "cpu":  # a GPU may run either way (some Metal builds block)
        assert steady["execution"]["mode"] == "synchronous"
    assert steady["fence_check"]["samples"] == 14
    cost = steady["profiling_cost"]
    assert cost["ratio"]["low"] <= cost["ratio"]["point"] <= cost["ratio"]["high"] and cost["stretches"] == 1
    fit = run["fit"]
    assert len(fit["epoch_ms"]) == 2
    head = run["headline"]
    assert head["fit_epoch_mean_ms"] == pytest.approx(fit["epoch_ms"][1], rel=1e-3)
    assert head["loop_epoch_mean_ms"] == pytest.approx(run["epochs"][1]["wall_ms"])
    # fit is compared with the loop as it runs unprofiled, not with the profiled loop
    assert head["overhead_against"] == "unprofiled"
    assert head["framework_overhead_ms"] == pytest.approx(
        head["fit_epoch_mean_ms"] - cost["unprofiled_epoch_ms"]
    )
    assert head["fit_epoch_mean_all_ms"] == pytest.approx(sum(fit["epoch_ms"]) / 2, rel=1e-3)
    assert "method" in data and "sync" in data["method"]


def test_show_renders_the_saved_report_as_the_run_did(cifar_run):
    result, out = cifar_run
    shown = run_cli("show", str(out))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == result.stdout
    markdown = run_cli("show", str(out), "--format", "markdown")
    assert "### Headline" in markdown.stdout and "| phase" in markdown.stdout and "|-----" in markdown.stdout
    as_json = run_cli("show", str(out), "--format", "json")
    assert json.loads(as_json.stdout) == json.loads(out.read_text())


def test_show_does_not_import_tensorflow_and_answers_fast(cifar_run):
    _, out = cifar_run
    code = (
        "import sys, time; start = time.perf_counter(); from tfprof_m1.cli import main; "
        f"rc = main(['show', {str(out)!r}]); "
        "print('TF' if 'tensorflow' in sys.modules else 'noTF', time.perf_counter() "
        "- start, file=sys.stderr); sys.exit(rc)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0
    marker, _seconds = result.stderr.split()[-2:]  # the time is recorded in docs/performance.md, not asserted
    assert marker == "noTF"


@pytest.mark.parametrize("args", [["--help"], ["show", "--help"], ["imagenet"], ["cifar10", "--epochs", "0"]])
def test_help_and_argument_errors_do_not_import_tensorflow(args):
    code = (
        "import sys; from tfprof_m1.cli import main\n"
        "try:\n    rc = main(sys.argv[1:])\nexcept SystemExit as e:\n    rc = e.code\n"
        "print('TF' if 'tensorflow' in sys.modules else 'noTF', file=sys.stderr); sys.exit(rc)"
    )
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=REPO)
    assert result.stderr.split()[-1] == "noTF"


def test_data_mistakes_are_refused_before_tensorflow_is_imported(tmp_path):
    """A missing dataset, a batch larger than the data, --trace-steps past the run and a multi-worker
    run without TF_CONFIG are answered from the files and the environment alone, before TensorFlow's
    start-up (seconds here)."""
    from tests.formats import learnable_images, write_mnist_npz

    write_mnist_npz(tmp_path, *learnable_images(40, (28, 28), seed=1))
    real = [
        "--data",
        "real",
        "--data-dir",
        str(tmp_path),
        "--no-download",
        "--logdir",
        str(tmp_path / "runs"),
    ]
    cases = [
        (["fashion_mnist", *real], "Fashion-MNIST not found"),
        (["mnist", *real, "--batch-size", "64"], "--batch-size 64: larger than the 40 examples"),
        (
            ["mnist", *real, "--batch-size", "4", "--steps", "6", "--epochs", "1", "--trace-steps", "5:9"],
            "the run has only 6 steps",
        ),
        (["mnist", *real, "--strategy", "mirrored", "--replicas", "41"], "--replicas 41: more replicas than"),
        (["mnist", *real, "--strategy", "multiworker"], "TF_CONFIG is not set"),
    ]
    code = (
        "import json, sys; from tfprof_m1.cli import main\n"
        "for args in json.loads(sys.argv[1]):\n"
        "    try:\n        rc = main(args)\n    except SystemExit as e:\n        rc = e.code\n"
        "    print(rc, file=sys.stderr)\n"
        "print('TF' if 'tensorflow' in sys.modules else 'noTF', file=sys.stderr)"
    )
    argv = json.dumps([args for args, _ in cases])
    environment = {name: value for name, value in os.environ.items() if name != "TF_CONFIG"}
    result = subprocess.run(
        [sys.executable, "-c", code, argv], capture_output=True, text=True, cwd=tmp_path, env=environment
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("tfprof_m1: error:")]
    assert len(errors) == len(cases), result.stderr
    for line, (_, expected) in zip(errors, cases):
        assert expected in line, line
    assert result.stderr.split()[-1] == "noTF" and "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if line.strip().isdigit()] == ["2"] * len(cases)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "args, expected",
    [
        (["imagenet"], "'imagenet': choose one of mnist, fashion_mnist, cifar10"),
        (["cifar10", "--epochs", "0"], "--epochs: 0 must be 1 or more"),
        (["cifar10", "--batch-size", "x"], "'x' is not a whole number"),
        (["cifar10", "--data", "maybe"], "--data 'maybe': choose one of auto, real, synthetic"),
        (["show", "r.json", "--format", "html"], "--format 'html': choose one of table, markdown, json"),
        (["show", "/no/such/report.json"], "no such report file"),
        (["cifar10", "--json", "/"], "is a directory"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(args, expected):
    result = run_cli(*args)
    assert result.returncode == 2
    _no_traceback(result)
    assert expected in _error_line(result) and len(_error_line(result)) <= 120


def test_gpu_requested_on_a_machine_without_one_fails_clearly():
    result = run_cli("mnist", "--device", "gpu", "--steps", "1", "--epochs", "1", "--data", "synthetic")
    assert result.returncode == 2
    _no_traceback(result)
    assert "--device gpu: TensorFlow sees no GPU" in _error_line(result)


def test_missing_real_data_fails_and_leaves_an_existing_report_untouched(tmp_path):
    report = tmp_path / "report.json"
    report.write_text('{"keep": "me"}')
    result = run_cli("fashion_mnist", "--data", "real", "--data-dir", str(tmp_path), "--json", str(report))
    assert result.returncode == 2
    _no_traceback(result)
    line = _error_line(result)
    assert "Fashion-MNIST not found" in line and str(tmp_path) in line
    assert report.read_text() == '{"keep": "me"}'


def test_real_mnist_file_through_the_cli_quietly(tmp_path):
    write_mnist_npz(tmp_path, *learnable_images(256, (28, 28)))
    out = tmp_path / "r.json"
    result = run_cli(
        "mnist",
        "--data",
        "real",
        "--data-dir",
        str(tmp_path),
        "--epochs",
        "2",
        "--no-fit",
        "--quiet",
        "--format",
        "json",
        "--json",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert "[mnist]" not in result.stderr  # --quiet: no progress
    printed = json.loads(result.stdout)
    assert printed == json.loads(out.read_text())
    (run,) = printed["runs"]
    assert run["data"]["source"] == "real" and run["data"]["examples"] == 256
    assert "holds 256 training examples" in run["data"]["notes"][0]
    assert run["fit"] is None and run["headline"]["framework_overhead_ms"] is None
    assert run["steps_per_epoch"] == 8
    losses = [e["loss"] for e in run["epochs"]]
    assert losses[1] < losses[0]
    assert load_report(out).runs[0].model == "mnist"


def test_all_runs_the_three_models(tmp_path):
    out = tmp_path / "all.json"
    result = run_cli(
        "all",
        "--epochs",
        "1",
        "--steps",
        "3",
        "--no-fit",
        "--data",
        "synthetic",
        "--json",
        str(out),
        "--format",
        "markdown",
    )
    assert result.returncode == 0, result.stderr
    assert [run["model"] for run in json.loads(out.read_text())["runs"]] == [
        "mnist",
        "fashion_mnist",
        "cifar10",
    ]
    assert "only one epoch: figures include warm-up" in result.stdout


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "tfprof-m1"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("tfprof_m1 ")


def test_env_command_describes_this_machine():
    result = run_cli("env", "--peak", "--format", "json")
    assert result.returncode == 0, result.stderr
    env = json.loads(result.stdout)
    assert env["device_kind"] == ("gpu" if env["gpus"] else "cpu")
    assert (env["device_label"] == "cpu") == (env["device_kind"] == "cpu")
    assert env["cpu_count"] >= 1 and env["memory_gb"] > 1
    assert env["tensorflow"] and env["build"]["is_cuda_build"] in ("True", "False")
    assert env["matmul_peak_gflops"] > 0  # measured, not looked up
    assert env["colab"] == any(key.startswith("COLAB_") for key in os.environ)
    metal = [
        d.version for d in importlib.metadata.distributions() if d.metadata["Name"] == "tensorflow-metal"
    ]
    assert env["tensorflow_metal"] == (metal[0] if metal else None)
    table = run_cli("env")  # the quick answer: no peak measured unless asked
    assert "device label" in table.stdout and "not measured" in table.stdout
    # A real TensorFlow start-up: no C++ log line reaches stderr (--verbose letting them through is
    # the filter's own test, on fd 2 itself, in test_terminal.py).
    assert table.returncode == 0 and table.stderr.strip() == "", table.stderr


def test_trace_options(tmp_path):
    out = tmp_path / "runs"
    untraced = run_cli(
        "mnist",
        "--epochs",
        "1",
        "--steps",
        "6",
        "--no-fit",
        "--data",
        "synthetic",
        "--no-trace",
        "--no-peak",
        "--logdir",
        str(out),
        "--format",
        "json",
    )
    assert untraced.returncode == 0, untraced.stderr
    (run_dir,) = out.iterdir()
    assert not (run_dir / "plugins").exists() and (run_dir / "report.json").is_file()
    run = json.loads(untraced.stdout)["runs"][0]
    assert run["trace"] is None and run["trace_problem"] == "not traced (--no-trace)"
    chosen = run_cli(
        "mnist",
        "--epochs",
        "1",
        "--steps",
        "6",
        "--no-fit",
        "--data",
        "synthetic",
        "--trace-steps",
        "1:3",
        "--no-peak",
        "--logdir",
        str(out),
        "--format",
        "json",
    )
    assert chosen.returncode == 0, chosen.stderr
    assert json.loads(chosen.stdout)["runs"][0]["trace"]["traced_steps"] == [1, 2]
    assert len(list(out.iterdir())) == 2  # a second run never reuses a directory
    too_far = run_cli(
        "mnist",
        "--epochs",
        "1",
        "--steps",
        "6",
        "--no-fit",
        "--data",
        "synthetic",
        "--trace-steps",
        "5:9",
        "--logdir",
        str(out),
    )
    assert too_far.returncode == 2 and "the run has only 6 steps" in _error_line(too_far)
    assert len(list(out.iterdir())) == 2  # refused with the data, before a run directory was made
    bad = run_cli("mnist", "--trace-steps", "9", "--logdir", str(out))
    assert bad.returncode == 2 and "expected START:STOP" in _error_line(bad)


def test_output_settings_are_refused_before_tensorflow_and_create_nothing(tmp_path):
    """Checked before TensorFlow is imported (each answers at once) and without creating folders."""
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    read_only = tmp_path / "read_only"
    read_only.mkdir()
    read_only.chmod(0o555)
    cases = [
        (["--epoch", "2"], "unrecognized arguments: --epoch 2"),
        (["--json", ""], "--json '': give a file name"),
        (["--logdir", ""], "--logdir '': give a directory"),
        (["--trace-steps", ""], "--trace-steps '': give START:STOP"),
        (["--no-trace", "--trace-steps", "1:3"], "--no-trace and --trace-steps contradict each other"),
        (["--logdir", str(a_file)], f"--logdir {a_file}: is a file"),
        (["--logdir", str(a_file / "runs")], f"is under {a_file}, which is a file"),
        (["--json", str(a_file / "out" / "r.json")], f"is under {a_file}, which is a file"),
    ]
    if os.geteuid() != 0:  # root writes anywhere
        cases.append((["--logdir", str(read_only / "runs")], f"{read_only} is not writable"))
    for extra, expected in cases:
        result = run_cli("mnist", "--data", "synthetic", *extra, cwd=tmp_path)
        assert result.returncode == 2, (extra, result.stderr)
        _no_traceback(result)
        assert expected in _error_line(result), (extra, _error_line(result))
    nested = tmp_path / "new" / "deeper" / "report.json"
    late = run_cli(
        "fashion_mnist",
        "--data",
        "real",
        "--data-dir",
        str(tmp_path),
        "--json",
        str(nested),
        "--no-trace",
        "--logdir",
        str(tmp_path / "runs"),
        cwd=tmp_path,
    )
    assert late.returncode == 2 and "Fashion-MNIST not found" in _error_line(late)
    assert not (tmp_path / "new").exists()  # the run failed on its data: no --json folders were made for it
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a_file", "read_only"]  # no runs/ either


def test_all_checks_every_models_data_before_training_any(tmp_path):
    """Good MNIST and Fashion-MNIST files and a truncated CIFAR-10: refused before the first model trains."""
    from tests.formats import learnable_images, write_cifar_tarball, write_fashion_idx, write_mnist_npz

    write_mnist_npz(tmp_path, *learnable_images(40, (28, 28), seed=1))
    write_fashion_idx(tmp_path, *learnable_images(40, (28, 28), seed=2))
    tarball = write_cifar_tarball(tmp_path, *learnable_images(25, (32, 32, 3), seed=3))
    tarball.write_bytes(tarball.read_bytes()[: tarball.stat().st_size // 2])
    result = run_cli(
        "all",
        "--data",
        "real",
        "--data-dir",
        str(tmp_path),
        "--epochs",
        "1",
        "--no-fit",
        "--logdir",
        str(tmp_path / "runs"),
        cwd=tmp_path,
    )
    assert result.returncode == 2 and "cifar-10-python.tar.gz" in _error_line(result)
    _no_traceback(result)
    assert "loop epoch" not in result.stderr and not (tmp_path / "runs").exists()


def test_a_batch_larger_than_the_data_is_refused(tmp_path):
    from tests.formats import learnable_images, write_mnist_npz

    write_mnist_npz(tmp_path, *learnable_images(40, (28, 28), seed=1))
    result = run_cli(
        "mnist",
        "--data",
        "real",
        "--data-dir",
        str(tmp_path),
        "--batch-size",
        "64",
        "--no-fit",
        "--logdir",
        str(tmp_path / "runs"),
        cwd=tmp_path,
    )
    assert (
        result.returncode == 2
        and "--batch-size 64: larger than the 40 examples of mnist's data" in _error_line(result)
    )
    assert not (tmp_path / "runs").exists()


def test_the_framework_overhead_of_a_short_run_carries_the_cost_interval(tmp_path):
    """A short run's unprofiled loop epoch rests on a profiling cost measured on one or two stretches;
    the headline's overhead (fit − unprofiled loop) then says its range over that cost's interval,
    which holds the overhead's point (a trial read a bare +0.06 s on a cost of one stretch)."""
    from tfprof_m1.analysis.figures import overhead_bounds

    out = tmp_path / "report.json"
    result = run_cli("mnist", "--epochs", "4", "--steps", "60", "--data", "synthetic", "--json", str(out))
    assert result.returncode == 0, result.stderr
    (run,) = load_report(out).runs
    cost, overhead = run.steady.profiling_cost, run.headline.framework_overhead_ms
    assert cost is not None and cost.stretches < 10 and overhead is not None
    low, high = overhead_bounds(run)
    assert low <= overhead + 1e-6 and overhead - 1e-6 <= high and low < high
    text = " ".join(result.stdout.split())
    assert f"over that interval the overhead is {low / 1000:+.2f} s to {high / 1000:+.2f} s" in text
