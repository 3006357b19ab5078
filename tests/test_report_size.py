"""Schema 8: per-step values packed (ticks of 0.1 µs, byte planes, deflate, base64); older reports load.

The size per step is measured on reports of the real loop and profiler driven by a fake device whose
times are noisy (random, as a real run's are; a fake clock's exact times would pack to almost
nothing): the bytes a report grows by per step, from two run lengths of one process.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tests.fake_device import FakeClock, FakeDevice, FakeFence, FakeTrainSteps, StepModel, Work, batches
from tests.report_factory import make_report
from tfprof_m1.analysis.assemble import build_report
from tfprof_m1.analysis.compare import compare
from tfprof_m1.base.errors import UserError
from tfprof_m1.collection.loop import Sampling, run_profiled_loop
from tfprof_m1.collection.profiler import PhaseProfiler
from tfprof_m1.collection.step_table import StepTable
from tfprof_m1.report.model import SCHEMA_VERSION, load_report
from tfprof_m1.report.step_codec import (
    StepKinds,
    pack_kinds,
    pack_samples,
    pack_values,
    unpack_kinds,
    unpack_samples,
    unpack_values,
)
from tfprof_m1.views.compare_render import render_comparison
from tfprof_m1.views.render import render_text

FIXTURES = Path(__file__).parent / "fixtures"
#: The issue's goal: report bytes per step.
MAX_BYTES_PER_STEP = 30


@pytest.mark.parametrize(
    "values",
    [
        [],
        [0.0],
        [1.2345, 0.0001, 0.0, 12.5, 999.9999, 1023.9999, 65535.4321],
        [-0.0003, 2.0],  # a negative figure (a clock step back) is kept as it is
        [214748.3647, 300000.0001, 1.5],  # over int32 ticks: written as int64
        [round(random.Random(seed).uniform(0, 50), 4) for seed in range(500)],
    ],
)
def test_packed_values_read_back_exactly(values):
    packed = pack_values(values)
    assert json.loads(json.dumps(packed)) == packed  # plain JSON
    assert unpack_values(packed) == values


def test_step_kinds_are_runs():
    kinds = ["fused"] * 3 + ["probe"] + ["fused"] * 2
    assert pack_kinds(kinds) == [["fused", 3], ["probe", 1], ["fused", 2]]
    assert unpack_kinds(pack_kinds(kinds)) == kinds
    assert unpack_kinds(kinds) == kinds  # schema 7 and older: a list of kinds


def test_a_report_saved_packed_loads_equal(tmp_path):
    report = make_report("cpu")
    data = json.loads(report.to_json())
    assert data["schema_version"] == SCHEMA_VERSION == 8
    epoch = data["runs"][0]["epochs"][0]
    assert epoch["step_kinds"][0] == ["fused", 2] and epoch["step_ms"]["input"]["count"] == 10
    assert load_report(report.save(tmp_path / "r.json")) == report


def _assert_close(old, new, where="runs"):
    """``old`` and ``new`` (a report's JSON) hold the same keys, texts and whole numbers, and floats
    equal up to their last bits (sums and means added in another order)."""
    if isinstance(old, dict):
        assert isinstance(new, dict) and old.keys() == new.keys(), where
        for key in old:
            _assert_close(old[key], new[key], f"{where}.{key}")
    elif isinstance(old, list):
        assert isinstance(new, list) and len(old) == len(new), where
        for index, (a, b) in enumerate(zip(old, new)):
            _assert_close(a, b, f"{where}[{index}]")
    elif isinstance(old, float) and not isinstance(new, bool):
        assert new == pytest.approx(old, rel=1e-12, abs=1e-12), where
    else:
        assert old == new, where


def test_a_schema_6_report_loads_renders_and_compares_as_before(tmp_path):
    """The fixture was saved by the schema 6 code from the factory report: lists of numbers."""
    old = load_report(FIXTURES / "report_schema6_cpu.json")
    assert old.schema_version == SCHEMA_VERSION  # held as the current schema once loaded
    new = make_report("cpu")
    # every figure as the schema 6 code wrote it, up to the last bits of a float: a phase's per-step
    # mean was the sum of the sorted values over n and is np.mean of the values in step order now
    # (the quartiles are selections, no sort), and a phase's total was added one step at a time and
    # is numpy's pairwise sum now
    _assert_close(json.loads(old.to_json())["runs"], json.loads(new.to_json())["runs"])
    for markdown in (False, True):
        assert render_text(old, markdown=markdown) == render_text(new, markdown=markdown)
    saved = load_report(old.save(tmp_path / "again.json"))
    other = make_report("metal:Apple M1", scale=0.5)
    assert render_comparison(compare([old, other])) == render_comparison(compare([saved, other]))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda packed: packed.update(data="not base64!"), "cannot be decoded"),
        (lambda packed: packed.update(count=3), "bytes for 3 values"),
        (lambda packed: packed.update(encoding="float16"), "unknown encoding"),
    ],
)
def test_damaged_packed_values_are_one_clear_line(tmp_path, change, message):
    data = json.loads(make_report("cpu").to_json())
    change(data["runs"][0]["epochs"][1]["step_ms"]["sync"])
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(UserError, match=message) as error:
        load_report(path)
    assert "\n" not in str(error.value) and str(path) in str(error.value)


class _TickingClock(FakeClock):
    """Each reading costs 1 µs, as reading a real clock costs time (the loop's own time is then
    ``other``, as in a real run, never a rounding error around zero)."""

    def __call__(self) -> float:
        self.advance(0.001)
        return self.now


class _NoisyDevice(FakeDevice):
    """A fake device whose calls take a random share more or less host time, as real calls do."""

    def __init__(self, clock: FakeClock, seed: int = 7) -> None:
        super().__init__(clock)
        self.random = random.Random(seed)

    def run(self, host_ms: float, device_ms: float) -> str:
        return super().run(host_ms * self.random.lognormvariate(0, 0.2), device_ms)


def noisy_report(steps: int, epochs: int = 2, seed: int = 7):
    """A report of the real loop, profiler and assembly: ``epochs`` of ``steps`` noisy steps."""
    clock = _TickingClock()
    device = _NoisyDevice(clock, seed)
    profiler = PhaseProfiler(clock=clock, fence=FakeFence(device, 0.05), annotate=False)
    work = StepModel(Work(0.5, 0.0), Work(1.0, 1.0), Work(1.5, 3.0), Work(2.0, 4.0))
    run_profiled_loop(
        FakeTrainSteps(device, work), batches(clock, steps, input_ms=0.1), epochs, steps, profiler, Sampling()
    )
    report = build_report(profiler, environment=make_report("cpu").environment, batch_size=32)
    report.profiler = profiler  # for tests that build the report again
    return report


def test_report_bytes_per_step_are_bounded():
    small, large = 300, 3000
    sizes = {n: len(noisy_report(n).to_json()) for n in (small, large)}
    per_step = (sizes[large] - sizes[small]) / (2 * (large - small))
    assert 0 < per_step <= MAX_BYTES_PER_STEP, f"{per_step:.1f} bytes per step"


def test_the_documented_numpy_reader_reads_packed_values():
    """docs/report-format.md shows how to read packed values without tfprof_m1: that code, run."""
    import base64
    import re
    import zlib

    import numpy as np

    text = (Path(__file__).parent.parent / "docs" / "report-format.md").read_text(encoding="utf-8")
    code = re.search(r"fragment: `packed` is one step_ms value.*?```python\n(.*?)```", text, re.S).group(1)
    values = [1.2345, 0.0, 7.5, 250000.0001]
    for packed in (pack_values(values), pack_values(values[:3])):
        scope = {"packed": packed, "np": np, "zlib": zlib, "base64": base64}
        exec(code, scope)
        assert np.round(scope["ms"], 4).tolist() == values[: packed["count"]]


def test_probe_samples_are_packed_as_columns_when_their_variants_agree(tmp_path):
    same = [
        {"empty_call": [0.5, 0.0], "full_step": [6.25, 1.5]},
        {"empty_call": [0.4, 0.1], "full_step": [6.0, 1.25]},
    ]
    packed = pack_samples(same)
    assert packed["count"] == 2 and list(packed["variants"]) == ["empty_call", "full_step"]
    assert unpack_samples(json.loads(json.dumps(packed))) == same
    mixed = [same[0], {"empty_call": [0.5, 0.0]}]
    assert pack_samples(mixed) == mixed and unpack_samples(mixed) == mixed and pack_samples([]) == []
    report = noisy_report(120)
    assert any(epoch.samples for epoch in report.runs[0].epochs)
    assert load_report(report.save(tmp_path / "r.json")) == report


def test_damaged_sample_columns_are_one_clear_line(tmp_path):
    report = noisy_report(120)
    data = json.loads(report.to_json())
    epoch = next(epoch for epoch in data["runs"][0]["epochs"] if isinstance(epoch["samples"], dict))
    epoch["samples"]["count"] += 1
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(UserError, match="do not hold count values"):
        load_report(path)


def test_step_kinds_are_codes_that_read_as_their_names():
    """A report's step kinds are a code a step (StepKinds), equal to the list of names, written as
    the same runs as that list, and read back from runs or from a schema 7 list alike."""
    names = ["block"] * 5 + ["fused", "probe"] + ["block"] * 3 + ["split"]
    kinds = StepKinds(names)
    assert kinds == names and list(kinds) == names and len(kinds) == len(names)
    assert kinds.count("block") == 8 and kinds.count("other") == 0 and "probe" in kinds and "x" not in kinds
    assert kinds.mask("fused").tolist() == [name == "fused" for name in names]
    assert kinds.runs() == pack_kinds(names) == pack_kinds(kinds)
    assert kinds[5] == "fused" and kinds[-1] == "split" and kinds[4:7] == names[4:7]
    assert unpack_kinds(pack_kinds(names)) == kinds and unpack_kinds(names) == kinds
    assert StepKinds.from_codes(*StepTable([]).kind_codes()) == [] and StepKinds([]).runs() == []
    with pytest.raises(ValueError, match="step_kinds holds"):
        unpack_kinds([["fused", -1]])
