"""The run's settings: one record (RunConfig), built once from the flags, defaults only in the record."""

from __future__ import annotations

import dataclasses

import pytest

from tfprof_m1.base.errors import UserError, required
from tfprof_m1.cli.run import config_from_args, run_parser
from tfprof_m1.report.model import RunConfig
from tfprof_m1.run.bench import validate_config
from tfprof_m1.run.outputs import OutputSettings
from tfprof_m1.trace.window import StepRange


def _parse(*argv: str):
    return config_from_args(run_parser().parse_args(list(argv)))


def test_no_flag_gives_the_records_own_defaults():
    config, output = _parse("mnist")
    assert config == RunConfig(models=["mnist"]) and output == OutputSettings()
    assert _parse("all")[0].models == ["mnist", "fashion_mnist", "cifar10"]
    assert RunConfig(strategy="mirrored").replicas == 2 and RunConfig().replicas == 1


def test_every_field_has_its_flag():
    config, output = _parse(
        "cifar10", "--epochs", "5", "--steps", "7", "--batch-size", "16", "--data", "synthetic",
        "--data-dir", "d", "--device", "cpu", "--seed", "3", "--no-fit", "--sample-every", "4",
        "--min-samples", "2", "--autotune", "--async-executor", "--reference-share", "0.2",
        "--fenced-share", "0.5", "--repeats", "2", "--fit-jit-compile", "off", "--strategy", "mirrored",
        "--replicas", "3",
        "--no-download", "--no-peak", "--stop-on-nan", "--no-baseline",
        "--logdir", "out", "--no-trace",
    )  # fmt: skip
    default = RunConfig(models=["mnist"])
    unchanged = [
        f.name for f in dataclasses.fields(RunConfig) if getattr(config, f.name) == getattr(default, f.name)
    ]
    assert unchanged == []
    assert output == OutputSettings(logdir="out", trace=False, trace_steps=None)
    assert _parse("mnist", "--trace-steps", "3:9")[1].trace_steps == StepRange(3, 9)


def test_the_record_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        RunConfig().epochs = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    "changes, flag",
    [
        ({"models": ["imagenet"]}, "imagenet"),
        ({"reference_share": 0.5}, "--reference-share 0.5"),
        ({"fenced_share": 1.5}, "--fenced-share 1.5"),
        ({"fenced_share": -0.1}, "--fenced-share -0.1"),
        ({"min_samples": -1}, "--min-samples -1"),
        ({"strategy": "one", "replicas": 2}, "--replicas 2"),
        ({"fit_jit_compile": "maybe"}, "--fit-jit-compile 'maybe'"),
    ],
)
def test_validation_names_the_setting_in_one_line(changes, flag):
    with pytest.raises(UserError) as refused:
        validate_config(dataclasses.replace(RunConfig(), **changes))
    assert flag in str(refused.value) and "\n" not in str(refused.value)


def test_a_setting_a_benchmark_run_needs_is_given_back_or_named():
    """A research report's config may leave a setting None; the benchmark reads it through
    ``required``, which keeps a falsy value and names the flag of a missing one."""
    assert required(0, "seed") == 0 and required(False, "peak") is False
    with pytest.raises(UserError, match=r"^--batch-size: a benchmark run needs a value$"):
        required(RunConfig(batch_size=None).batch_size, "batch-size")
