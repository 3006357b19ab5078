"""Child runs (tfprof_m1.run.child): a RunConfig goes down as argv that the run command's parser
turns back into the same RunConfig, and how the child ended comes back as a JSON record, not as
stderr text."""

from __future__ import annotations

import dataclasses
import json
import signal
import sys

import pytest

from tests.report_factory import make_report
from tfprof_m1.cli import COMMANDS, main
from tfprof_m1.cli.run import config_from_args, run_parser
from tfprof_m1.collection.interrupt import StopSignal
from tfprof_m1.report.model import RunConfig
from tfprof_m1.run.child import (
    RESULT_FILE,
    Child,
    ChildResult,
    child_command,
    config_argv,
    output_argv,
    read_result,
)
from tfprof_m1.run.outputs import OutputSettings
from tfprof_m1.trace.window import StepRange

#: A value other than the default for every RunConfig field (a new field without one fails below).
OTHER = {
    "models": ["fashion_mnist"],
    "epochs": 7,
    "steps": 11,
    "batch_size": 48,
    "data": "synthetic",
    "data_dir": "some dir/with spaces",
    "device": "cpu",
    "seed": 4294967295,
    "fit": False,
    "sample_every": 13,
    "min_samples": 0,
    "autotune": True,
    "async_executor": True,
    "reference_share": 0.25,
    "fenced_share": 0.5,
    "repeats": 3,
    "fit_jit_compile": "off",
    "strategy": "mirrored",
    "replicas": 3,
    "download": False,
    "peak": False,
    "stop_on_nan": True,
    "baseline": False,
}


def _parsed(argv: list[str]) -> tuple[RunConfig, OutputSettings]:
    return config_from_args(run_parser().parse_args(argv))


def test_every_field_has_a_flag_help_and_another_value_here():
    fields = dataclasses.fields(RunConfig)
    assert sorted(OTHER) == sorted(field.name for field in fields)
    default = RunConfig()
    assert all(OTHER[name] != getattr(default, name) for name in OTHER)
    for field in fields:
        assert field.metadata["help"] and "\n" not in field.metadata["help"]
        if field.name != "models":
            assert field.metadata["flag"] == "--" + (
                "no-" if field.default is True else ""
            ) + field.name.replace("_", "-")
    help_text = run_parser().format_help()
    assert all(f.metadata["flag"] in help_text for f in fields if f.name != "models")


def test_the_default_config_is_the_model_alone_and_comes_back_the_same():
    config = RunConfig(models=["mnist"])
    assert config_argv(config) == ["mnist"]
    assert _parsed(config_argv(config))[0] == config
    everything = RunConfig(models=["mnist", "fashion_mnist", "cifar10"])
    assert config_argv(everything) == ["all"] and _parsed(["all"])[0] == everything


@pytest.mark.parametrize("name", sorted(OTHER))
def test_each_field_changed_alone_comes_back_through_the_parser(name):
    config = dataclasses.replace(RunConfig(models=["mnist"]), **{name: OTHER[name]})
    if name == "replicas":
        config = dataclasses.replace(config, strategy="mirrored")
    argv = config_argv(config)
    assert _parsed(argv)[0] == config, argv
    assert len(argv) <= 5  # the model and the changed fields' flags only


def test_every_field_changed_at_once_comes_back_and_the_strategy_decides_the_replicas_default():
    config = RunConfig(**OTHER)
    assert _parsed(config_argv(config))[0] == config
    mirrored = RunConfig(models=["mnist"], strategy="mirrored")  # replicas 2: that strategy's default
    assert config_argv(mirrored) == ["mnist", "--strategy", "mirrored"]
    assert _parsed(config_argv(mirrored))[0] == mirrored


def test_what_no_command_line_can_say_is_refused():
    with pytest.raises(ValueError, match="one model or all"):
        config_argv(RunConfig(models=["mnist", "cifar10"]))
    with pytest.raises(ValueError, match="seed None"):
        config_argv(RunConfig(models=["mnist"], seed=None))  # a research-code report: not known
    with pytest.raises(ValueError, match="download None"):
        config_argv(RunConfig(models=["mnist"], download=None))  # a schema 5 report: not known


@pytest.mark.parametrize(
    "output",
    [
        OutputSettings(logdir="out"),
        OutputSettings(logdir="out dir", trace=False),
        OutputSettings(logdir="out", trace_steps=StepRange(3, 9)),
    ],
)
def test_output_settings_come_back_through_the_parser(output):
    assert _parsed(["mnist", *output_argv(output)])[1] == output


def test_a_child_command_is_this_python_running_the_package_with_its_report_and_record(tmp_path):
    command = child_command(
        RunConfig(models=["mnist"], epochs=2),
        OutputSettings(logdir=str(tmp_path)),
        tmp_path / "r.json",
        tmp_path / "result.json",
        quiet=True,
    )
    assert command[:3] == [sys.executable, "-m", "tfprof_m1"]
    assert command[3:] == [
        "mnist", "--epochs", "2", "--logdir", str(tmp_path), "--json", str(tmp_path / "r.json"),
        "--quiet", RESULT_FILE, str(tmp_path / "result.json"),
    ]  # fmt: skip


def _record(path) -> dict:
    return json.loads(path.read_text())


def test_the_result_file_says_ok_error_stopped_or_crashed(tmp_path, monkeypatch, capsys):
    report = tmp_path / "r.json"
    make_report().save(report)
    record = tmp_path / "result.json"
    assert main(["show", str(report), RESULT_FILE, str(record)]) == 0
    assert _record(record) == {"tool": "tfprof_m1", "status": "ok", "exit_status": 0, "message": ""}

    assert main(["show", str(tmp_path / "missing.json"), RESULT_FILE, str(record)]) == 2
    said = capsys.readouterr().err.strip().splitlines()[-1]
    result = read_result(record, 99)
    assert result.status == "error" and result.exit_status == 2 and result.line == said
    assert said.startswith("tfprof_m1: error: ") and "missing.json" in result.message

    def stopped(argv):
        raise StopSignal(signal.SIGTERM)

    def crashed(argv):
        raise RuntimeError("a bug")

    monkeypatch.setitem(COMMANDS, "stopped", stopped)
    monkeypatch.setitem(COMMANDS, "crashed", crashed)
    assert main(["stopped", RESULT_FILE, str(record)]) == 143
    result = read_result(record, 99)
    assert result.status == "stopped" and result.exit_status == 143
    assert result.line == capsys.readouterr().err.strip().splitlines()[-1]
    assert result.line.startswith("tfprof_m1: stopped by SIGTERM; ")
    with pytest.raises(RuntimeError):
        main(["crashed", RESULT_FILE, str(record)])
    assert read_result(record, 99) == ChildResult("crashed", 1, "RuntimeError: a bug")
    # A command that said why in lines of its own (a sweep's failed points): the status alone, no
    # closing line left over from the command before.
    monkeypatch.setitem(COMMANDS, "points-failed", lambda argv: 1)
    monkeypatch.setitem(COMMANDS, "workers-stopped", lambda argv: 130)
    assert main(["points-failed", RESULT_FILE, str(record)]) == 1
    assert read_result(record, 99) == ChildResult("error", 1) and read_result(record, 99).line == ""
    assert main(["workers-stopped", RESULT_FILE, str(record)]) == 130
    assert read_result(record, 99) == ChildResult("stopped", 130)


def test_without_a_record_the_exit_status_alone_is_known(tmp_path):
    assert read_result(tmp_path / "none.json", -9) == ChildResult("lost", -9)
    (tmp_path / "torn.json").write_text('{"status": "o')
    assert read_result(tmp_path / "torn.json", 1) == ChildResult("lost", 1)
    assert ChildResult("lost", -9).line == ""


def test_a_child_refused_before_training_reports_its_one_line_error_as_data(tmp_path):
    """A real child process: settings validate_config refuses (before TensorFlow is imported)."""
    config = RunConfig(models=["mnist"], min_samples=-1)
    with Child(config, OutputSettings(logdir=str(tmp_path / "runs")), tmp_path / "r.json") as child:
        result = child.result()
    assert child.process.returncode == 2
    assert result.status == "error" and result.exit_status == 2
    assert result.message.startswith("--min-samples -1: must be from 0") and "\n" not in result.message
    assert not (tmp_path / "r.json").exists() and not (tmp_path / "runs").exists()


def test_a_child_killed_before_it_could_write_a_record_is_known_by_its_exit_status(tmp_path):
    config = RunConfig(models=["mnist"], data="synthetic", fit=False, peak=False)
    with Child(config, OutputSettings(logdir=str(tmp_path / "runs")), tmp_path / "r.json") as child:
        child.process.kill()
        result = child.result()
    assert result == ChildResult("lost", -signal.SIGKILL)
