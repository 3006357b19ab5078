"""A report read from a file is data from outside: numbers finite and plausible, strings printable,
values no run can produce refused with the field named; every view (show, compare, plot, merge,
trace) gets one line, never a traceback, never an escape sequence on the terminal."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli
from tfprof_m1.base.errors import UserError
from tfprof_m1.report.model import load_report
from tfprof_m1.report.validate import MAX_MAGNITUDE, clean_json, printable

FIXTURE = REPO / "tests" / "fixtures" / "report_schema5.json"
BASE = json.loads(FIXTURE.read_text())


def _write(path: Path, change, raw: tuple[str, str] | None = None) -> Path:
    """The fixture with ``change(report)`` applied, written to ``path``; ``raw`` replaces text in the
    JSON (for what json.dumps cannot write: 1e999, a lone surrogate escape)."""
    report = copy.deepcopy(BASE)
    change(report)
    text = json.dumps(report)
    if raw is not None:
        assert raw[0] in text
        text = text.replace(*raw)
    path.write_text(text)
    return path


def _other_machine(report):
    report["environment"]["device_label"] = "cuda:Other"
    report["environment"]["device_kind"] = "cuda"


def test_printable_escapes_control_characters_and_surrogates_and_keeps_the_rest():
    assert printable("epoch 2: 1.5 s — ok ✓\n\tnext") == "epoch 2: 1.5 s — ok ✓\n\tnext"
    assert printable("\x1b]0;title\x07\x1b[2J") == "\\x1b]0;title\\x07\\x1b[2J"
    assert printable("data-\udcff") == "data-\\udcff"
    assert printable("it's \u202eevil") == "it's \\u202eevil"
    assert printable("\ud800").encode("utf-8") == b"\\ud800"  # encodable under strict UTF-8


def test_clean_json_names_the_field_of_a_number_no_run_records():
    with pytest.raises(ValueError, match=r"report.runs\[0\].epochs\[1\].wall_ms is inf"):
        clean_json({"runs": [{"epochs": [{"wall_ms": 1.0}, {"wall_ms": float("inf")}]}]})
    with pytest.raises(ValueError, match=r"report.x is 1e\+300"):
        clean_json({"x": 1e300})
    assert clean_json({"x": MAX_MAGNITUDE / 10, "s": ["\x1b"], "\x1bkey": True}) == {
        "x": MAX_MAGNITUDE / 10,
        "s": ["\\x1b"],
        "\\x1bkey": True,
    }


def _set_in_run(field, value):
    return lambda report: report["runs"][0].__setitem__(field, value)


def _epoch_indices(report):
    run = report["runs"][0]
    run["epochs"][0]["index"] = 1
    run["epochs"][2]["index"] = -5
    run["steady"]["epochs"] = [-5]


def _negative_steps(report):
    for epoch in report["runs"][0]["epochs"]:
        epoch["step_ms"] = {name: [-1.0] * len(values) for name, values in epoch["step_ms"].items()}


def _zero_fit(report):
    report["runs"][0]["fit"]["epoch_ms"] = [0.0] * len(report["runs"][0]["fit"]["epoch_ms"])


def _huge_share(report):
    for phase in report["runs"][0]["steady"]["phases"]:
        phase.update(share=1e300, total_ms=1e300)


def _worker(index):
    def change(report):
        report["runs"][0]["distribution"] = {
            "strategy": "multiworker",
            "replicas": 2,
            "devices": [f"/job:worker/replica:0/task:{index}/device:CPU:0"],
            "per_replica_batch": 32,
            "worker": index,
            "workers": ["127.0.0.1:1", "127.0.0.1:2"],
        }

    return change


def _zero_baseline(report):
    _worker(0)(report)
    report["runs"][0]["scaling"] = {
        "replicas": 1,
        "examples_per_s": 1.0,
        "baseline_examples_per_s": 0.0,
        "efficiency": 0.0,
        "efficiency_low": None,
        "efficiency_high": None,
        "baseline_epoch_examples_per_s": [0.0, 0.0],
    }


def _reversed_efficiency(report):
    _zero_baseline(report)
    scaling = report["runs"][0]["scaling"]
    scaling.update(baseline_examples_per_s=1.0, baseline_epoch_examples_per_s=[1.0, 1.0])
    scaling.update(efficiency=0.5, efficiency_low=0.7, efficiency_high=0.3)


@pytest.mark.parametrize(
    "change, raw, field",
    [
        (_set_in_run("batch_size", -32), None, "batch_size is -32"),
        (_huge_share, None, "steady.phases[0].total_ms is 1e+300"),
        (_negative_steps, None, "step_ms[input] is -1.0, a negative time"),
        (_epoch_indices, None, "epochs[1].index is 1"),
        (_zero_fit, None, "fit.epoch_ms is 0.0, not a positive time"),
        (_zero_baseline, None, "scaling is 0.0, not a positive throughput"),
        (_worker(7), None, "distribution.worker is 7, not one of the 2 workers"),
        (_worker(-1), None, "distribution.worker is -1"),
        (_set_in_run("batch_size", 424242), ("424242", "1e999"), "batch_size is inf"),
        (_reversed_efficiency, None, "scaling.efficiency_interval is Interval(point=0.5, low=0.7, high=0.3)"),
    ],
    ids=[
        "batch",
        "share",
        "steps",
        "indices",
        "fit",
        "baseline",
        "worker7",
        "worker-1",
        "1e999",
        "efficiency",
    ],
)
def test_values_no_run_can_produce_are_refused_with_the_field_named(tmp_path, change, raw, field):
    path = _write(tmp_path / "bad.json", change, raw)
    with pytest.raises(UserError) as error:
        load_report(path)
    message = str(error.value)
    assert "\n" not in message and str(path) in message and field in message


def test_every_view_refuses_an_impossible_report_in_one_line(tmp_path):
    inf = _write(tmp_path / "inf.json", _set_in_run("batch_size", 424242), ("424242", "1e999"))
    zero_fit = _write(tmp_path / "fit0.json", lambda r: (_other_machine(r), _zero_fit(r)))
    workers = [_write(tmp_path / f"w{i}.json", _worker(i)) for i in (0, 7)]
    commands = [
        ("show", str(inf), "--format", "json"),
        ("compare", str(FIXTURE), str(zero_fit)),
        ("plot", str(FIXTURE), str(inf), "-o", str(tmp_path / "p.png")),
        ("merge", *map(str, workers)),
    ]
    for command in commands:
        result = run_cli(*command)
        assert result.returncode == 2, command
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, command
    assert not (tmp_path / "p.png").exists()


def test_strings_from_a_report_reach_the_terminal_escaped_and_encodable(tmp_path):
    escape = "\x1b]0;pwned\x07\x1b[2J\x1b[31mINJECTED"
    warned = _write(tmp_path / "warn.json", lambda r: r["runs"][0].__setitem__("warnings", [escape]))
    surrogate = _write(
        tmp_path / "label.json",
        lambda r: (_other_machine(r), r["environment"].__setitem__("device_label", "cuda:LABEL")),
        ("LABEL", "\\udcff\\ud800"),
    )
    strict = {"PYTHONIOENCODING": "utf-8:strict"}
    for command in (
        ("show", str(warned)),
        ("show", str(warned), "--format", "markdown"),
        ("compare", str(FIXTURE), str(surrogate)),
        ("plot", str(FIXTURE), str(surrogate), "-o", str(tmp_path / "p.png")),
    ):
        result = run_cli(*command, env=strict)
        assert result.returncode == 0, (command, result.stderr)
        assert "\x1b" not in result.stdout and "Traceback" not in result.stderr
    shown = run_cli("show", str(warned)).stdout
    assert "\\x1b]0;pwned\\x07\\x1b[2J\\x1b[31mINJECTED" in shown
    assert "\\udcff\\ud800" in run_cli("compare", str(FIXTURE), str(surrogate)).stdout


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are a POSIX thing")
def test_show_and_trace_read_regular_files_only_and_an_empty_trace_is_one_line(tmp_path):
    os.mkfifo(tmp_path / "report.json")
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    for name, kind in (("report.json", "a FIFO (named pipe)"), ("zero.json", "a character device")):
        result = run_cli("show", str(tmp_path / name), timeout=60)
        assert result.returncode == 2 and f"is {kind}, not a regular file" in result.stderr
    for name, make in (
        ("fifo", lambda path: os.mkfifo(path)),
        ("zero", lambda path: path.symlink_to("/dev/zero")),
        ("empty", lambda path: path.write_bytes(b"")),
    ):
        profile = tmp_path / name / "plugins" / "profile" / "2026_01_01_00_00_00"
        profile.mkdir(parents=True)
        make(profile / "vm.xplane.pb")
        result = run_cli("trace", str(tmp_path / name), timeout=60)
        assert result.returncode == 2 and result.stderr.count("\n") == 1, (name, result.stderr)
        assert "vm.xplane.pb" in result.stderr
    assert "empty (0 bytes)" in run_cli("trace", str(tmp_path / "empty")).stderr


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda s: s["profiling_cost"].__setitem__("blocks", -3), "profiling_cost.blocks is -3"),
        (lambda s: s["profiling_cost"].__setitem__("stretches", 0), "profiling_cost.stretches is 0"),
        (
            lambda s: s["profiling_cost"].__setitem__("ratio", {"point": 1.0, "low": 1.2, "high": 0.9}),
            "profiling_cost.ratio is Interval(point=1.0, low=1.2, high=0.9), an interval whose low bound",
        ),
        (
            lambda s: s["profiling_cost"].__setitem__("ratio", {"point": -2.0, "low": 0.5, "high": 1.5}),
            "not a positive ratio",
        ),
        (
            lambda s: s["profiling_cost"].__setitem__("unprofiled_epoch_ms", -5.0),
            "profiling_cost.unprofiled_epoch_ms is -5.0, not a positive time",
        ),
        (
            lambda s: s["parts"][1].__setitem__("share", {"point": 1.5, "low": 1.2, "high": 1.8}),
            "steady.parts[forward].share",
        ),
        (
            lambda s: s["parts"][2]["math_share"].__setitem__("low", 0.99),
            "steady.parts[backward].math_share is Interval(",  # low above high
        ),
    ],
    ids=["blocks", "stretches", "reversed", "negative-ratio", "epoch", "share", "math-share"],
)
def test_steady_figures_no_run_can_produce_are_refused(tmp_path, change, field):
    """A report's stated profiling cost and parts are checked like its per-step values: counts of
    units at least 1, times and ratios positive, shares within 0-1, and every interval's low bound
    at or below its high one (a helper's edited report rendered '[95 % CI 1.200–0.900]' and '-3
    units'). compare recomputes from the raw values; show printed these as they were."""
    from tests.report_factory import probed_report

    data = json.loads(probed_report().to_json())
    change(data["runs"][0]["steady"])
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(data))
    with pytest.raises(UserError) as error:
        load_report(path)
    message = str(error.value)
    assert "\n" not in message and str(path) in message and field in message, message
    result = run_cli("show", str(path))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
