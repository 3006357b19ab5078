"""Every argument and environment value is checked before work starts: one line naming it and what to
do, exit 2, never a traceback, nothing trained or created. (Output paths: test_safe_io.py.)"""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli
from tfprof_m1.base.errors import UserError
from tfprof_m1.base.keras_backend import check_keras_backend, keras_config_path
from tfprof_m1.cli.launch import max_local_workers
from tfprof_m1.cli.sweep import parse_batch_sizes
from tfprof_m1.collection.strategies import parse_tf_config
from tfprof_m1.report.model import RunConfig
from tfprof_m1.run.bench import LIMITS, validate_config

RUN = ["mnist", "--epochs", "1", "--steps", "2", "--no-fit", "--no-peak", "--no-trace", "--data", "synthetic"]


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--seed", "-1"], "--seed: -1 must be from 0 to 4294967295"),
        (["--seed", str(2**32)], "--seed: 4294967296 must be from 0 to 4294967295"),
        (["--repeats", "1000000000"], "--repeats 1000000000: must be from 1 to 1,000"),
        (["--data-dir", ""], "--data-dir '': give a directory"),
        (["--json", "out/"], "--json out/: ends in '/'"),
        (["--json", "same", "--logdir", "same"], "--json same: is --logdir same"),
        (["--logdir", "/proc/nope"], "cannot create a folder in /proc"),
    ],
)
def test_run_arguments_are_refused_in_one_line_before_anything_is_made(tmp_path, args, expected):
    if "/proc/nope" in args and not __import__("os").path.isdir("/proc/self"):
        pytest.skip("needs /proc")
    result = run_cli(*RUN, *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and expected in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_each_whole_number_setting_is_checked_at_both_ends():
    for name, (low, high, _) in LIMITS.items():
        extra = {"strategy": "mirrored"} if name == "replicas" else {}
        validate_config(RunConfig(**{name: high, **extra}))  # the bounds themselves are allowed
        for value in (low - 1, high + 1):
            with pytest.raises(UserError, match=f"--{name.replace('_', '-')} {value}:"):
                validate_config(RunConfig(**{name: value, **extra}))


@pytest.mark.parametrize(
    "args, expected",
    [
        (["sweep", "mnist", "--batch-sizes", "²"], "'²' is not a batch size"),
        (["sweep", "mnist", "--batch-sizes", "9" * 5000], "is not a batch size"),
        (["sweep", "mnist", "--seed", "-1"], "must be from 0 to 4294967295"),
        (["launch", "--timeout", "nan", "mnist"], "--timeout nan: must be more than 0 seconds"),
        (["launch", "--timeout", "inf", "mnist"], "--timeout inf: must be more than 0 seconds"),
        (["launch", "--workers", "100000", "mnist"], "--workers 100000: at most"),
    ],
)
def test_sweep_and_launch_values_are_refused_before_any_process_starts(tmp_path, args, expected):
    # launch: an invalid worker option after MODEL shows whether the value got through to it
    result = run_cli(*args, *(["--epochs", "0"] if args[0] == "launch" else []), cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert expected in result.stderr and "--epochs" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_batch_sizes_are_ascii_whole_numbers():
    assert parse_batch_sizes("32, 16") == [16, 32]
    for text in ("²", "١٦", "16,x", "0"):
        with pytest.raises(UserError, match="is not a batch size"):
            parse_batch_sizes(text)


def test_launch_allows_a_rehearsal_and_bounds_it_by_the_machine():
    assert 8 <= max_local_workers()


def test_another_keras_backend_is_refused_from_the_environment_or_keras_json(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    check_keras_backend()  # no keras.json: TensorFlow
    keras_config_path().write_text(json.dumps({"backend": "torch"}))
    with pytest.raises(UserError, match=r"keras.json names the Keras backend 'torch'"):
        check_keras_backend()
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")  # the variable wins, as in Keras
    check_keras_backend()
    for backend in ("jax", "foo"):
        monkeypatch.setenv("KERAS_BACKEND", backend)
        with pytest.raises(
            UserError, match=f"KERAS_BACKEND={backend}: tfprof_m1 profiles Keras on the TensorFlow"
        ):
            check_keras_backend()
    monkeypatch.delenv("KERAS_BACKEND")
    keras_config_path().write_text("{not json")  # Keras ignores it, and so TensorFlow is the backend
    check_keras_backend()


@pytest.mark.parametrize(
    "env",
    [{"KERAS_BACKEND": "jax"}, {"KERAS_BACKEND": "foo"}],
)
def test_the_cli_refuses_another_backend_in_one_line_before_importing_keras(tmp_path, env):
    result = run_cli(*RUN, env=env, cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "profiles Keras on the TensorFlow backend" in result.stderr


@pytest.mark.parametrize(
    "config, expected",
    [
        (
            {"cluster": {"worker": "localhost:1"}, "task": {"type": "worker", "index": 0}},
            "a list of addresses",
        ),
        (
            {"cluster": {"worker": ["localhost:1"]}, "task": {"type": "chief", "index": 0}},
            "'type': 'chief'",
        ),
        (
            {
                "cluster": {"worker": ["localhost:1"], "ps": ["localhost:2"]},
                "task": {"type": "worker", "index": 0},
            },
            "workers only",
        ),
        (
            {"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 1}},
            "not one of the 1",
        ),
        (
            {"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": "0"}},
            "a whole number",
        ),
        ({"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}, "not one of the 1"),
    ],
)
def test_a_tf_config_tensorflow_would_choke_on_is_refused_in_one_line(config, expected):
    with pytest.raises(UserError, match=expected):
        parse_tf_config(json.dumps(config))
    assert parse_tf_config(
        json.dumps({"cluster": {"worker": ["h:1", "h:2"]}, "task": {"type": "worker", "index": 1}})
    ) == (
        ["h:1", "h:2"],
        1,
    )


@pytest.mark.parametrize(
    "extra, every, min_samples, budget",
    [
        ([], 50, 10, 0.03),  # nothing given: the default, by budget
        (["--sample-every", "50"], 50, 10, None),  # given at its old default value: still the fixed rule
        (["--min-samples", "3"], 50, 3, None),
        (["--sample-every", "7", "--min-samples", "0"], 7, 0, None),
    ],
)
def test_giving_sample_every_or_min_samples_chooses_the_fixed_rule_whatever_the_value(
    extra, every, min_samples, budget
):
    from tfprof_m1.cli.run import config_from_args, run_parser
    from tfprof_m1.collection.loop import DEFAULT_BUDGET, Sampling

    config, _ = config_from_args(run_parser().parse_args(["mnist", *extra]))
    sampling = Sampling.from_options(config.sample_every, config.min_samples, config.reference_share)
    assert (sampling.every, sampling.min_samples) == (every, min_samples)
    assert sampling.budget == (DEFAULT_BUDGET if budget is not None else None)
