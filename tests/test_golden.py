"""Golden text of every renderer, built from report fixtures (tests/report_factory.py).

A renderer's output is what users paste into issues: any change to it must be seen in review. The
expected text is in tests/golden/; after an intended change, rewrite it with
``TFPROF_M1_UPDATE_GOLDEN=1 make test PYTEST_ARGS=tests/test_golden.py`` and read the diff.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from pathlib import Path

import pytest

from tests.report_factory import make_report, probed_report, report_from_epochs, timed_epochs, worker_report
from tfprof_m1.analysis.compare import compare
from tfprof_m1.analysis.merge import merge_reports
from tfprof_m1.report.model import SCHEMA_VERSION, Report, load_report
from tfprof_m1.views.compare_render import render_comparison
from tfprof_m1.views.merge_render import render_merged
from tfprof_m1.views.render import render_environment, render_text

GOLDEN = Path(__file__).parent / "golden"
FIXTURES = Path(__file__).parent / "fixtures"
UPDATE = os.environ.get("TFPROF_M1_UPDATE_GOLDEN") == "1"


def _stall_report():
    epochs = timed_epochs(lambda rng, n: rng.normal(10, 1, n), epochs=4, steps=50, stall_ms=30)
    return report_from_epochs("cpu", epochs)


def _merged(tmp_path: Path, markdown: bool) -> str:
    paths = [
        worker_report(tmp_path / "w0.json", 0, [10.0, 30.0, 10.0, 10.0], baseline=[100.0, 100.0]),
        worker_report(tmp_path / "w1.json", 1, [12.0, 11.0, 12.0, 12.0]),
    ]
    return render_merged(merge_reports(paths), markdown=markdown).replace(str(tmp_path), "<dir>")


CASES = {
    "report_cpu.txt": lambda tmp: render_text(make_report("cpu")),
    "report_metal_two_models.md": lambda tmp: render_text(
        make_report("metal:Apple M1", models=("mnist", "cifar10"), scale=0.5), markdown=True
    ),
    "report_input_stall.md": lambda tmp: render_text(_stall_report(), markdown=True),
    "report_probed.txt": lambda tmp: render_text(probed_report()),
    "environment.txt": lambda tmp: render_environment(make_report("cpu").environment, "table"),
    "compare_cpu_metal.txt": lambda tmp: render_comparison(
        compare([make_report("cpu"), make_report("metal:Apple M1", scale=0.5)])
    ),
    "compare_cpu_cuda.md": lambda tmp: render_comparison(
        compare([make_report("cpu"), make_report("cuda:Tesla T4", scale=0.3, fit=False)]),
        markdown=True,
    ),
    "merged_workers.md": lambda tmp: _merged(tmp, markdown=True),
    "merged_workers.txt": lambda tmp: _merged(tmp, markdown=False),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_renderer_output_matches_its_golden_text(name, tmp_path):
    text = CASES[name](tmp_path)
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"no golden {path.name}: run with TFPROF_M1_UPDATE_GOLDEN=1 once and review it"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, (
        f"{name} changed; if intended, rewrite (TFPROF_M1_UPDATE_GOLDEN=1), review the diff"
    )


def test_a_schema_5_report_renders_as_its_schema_6_twin():
    """The fixture was saved by the schema 5 code (the fence on the environment) from the same
    factory report: loaded, its fence is on the run, and every renderer shows it as before."""
    assert json.loads((FIXTURES / "report_schema5.json").read_text(encoding="utf-8"))["schema_version"] == 5
    old = load_report(FIXTURES / "report_schema5.json")
    assert old.schema_version == SCHEMA_VERSION  # held (and saved again) in the current schema
    (run,) = old.runs
    assert (run.fence.name, run.fence.calls, run.fence.median_ms) == ("host_read", 50, 0.004)
    new = make_report("cpu")
    assert render_text(old) == render_text(new)
    assert render_text(old, markdown=True) == render_text(new, markdown=True)


def test_upgrading_a_schema_5_dict_leaves_the_callers_dict_as_it_was():
    data = json.loads((FIXTURES / "report_schema5.json").read_text(encoding="utf-8"))
    before = copy.deepcopy(data)
    report = Report.from_dict(data)
    assert data == before and "fence" in data["environment"] and "fence" not in data["runs"][0]
    assert report.runs[0].fence is not None and report.config.peak is None


def test_the_public_render_chooses_the_renderer_and_changes_no_text():
    from tfprof_m1 import render

    report = make_report("cpu")
    assert render(report) == render_text(report)
    assert render(report, "markdown") == render_text(report, markdown=True)
    assert json.loads(render(report, "json")) == json.loads(report.to_json())
    comparisons = compare([report, make_report("metal:Apple M1", scale=0.5)])
    assert render(comparisons) == render_comparison(comparisons)
    assert render(comparisons, "markdown") == render_comparison(comparisons, markdown=True)
    with pytest.raises(ValueError, match="'json' renders a Report"):
        render(comparisons, "json")
    with pytest.raises(ValueError, match="'html': use one of table, markdown, json"):
        render(report, "html")


@pytest.mark.parametrize(
    "markdown, golden", [(False, "report_probed_schema6.txt"), (True, "report_probed_schema6.md")]
)
def test_a_schema_6_report_renders_as_the_schema_6_code_did_and_as_its_schema_7_twin(markdown, golden):
    """report_schema6.json and the golden texts were written by the schema 6 code (flat
    ``share_low``... fields) from ``probed_report()``, which holds every kind of interval (part
    shares, the profiling cost's ratio, the scaling efficiency); report_schema7.json is its twin as
    schema 7 writes it. Both render byte for byte as the schema 6 code rendered the original,
    apart from wording changed since for every report (the profiling cost's units and its note on a
    short reference, session 12): the goldens hold that wording."""
    old = load_report(FIXTURES / "report_schema6.json")
    twin = load_report(FIXTURES / "report_schema7.json")
    assert json.loads((FIXTURES / "report_schema6.json").read_text(encoding="utf-8"))["schema_version"] == 6
    assert old.schema_version == twin.schema_version == SCHEMA_VERSION == 8
    expected = (GOLDEN / golden).read_text(encoding="utf-8")
    assert render_text(old, markdown=markdown) == expected == render_text(twin, markdown=markdown)
    assert "[95 % CI" in expected and "share of step compute" in expected and "scaling efficiency" in expected


def test_upgrading_a_schema_6_dict_folds_each_interval_into_one_object_and_leaves_the_callers_dict():
    data = json.loads((FIXTURES / "report_schema6.json").read_text(encoding="utf-8"))
    before = copy.deepcopy(data)
    old = Report.from_dict(data)
    assert data == before and "share_low" in data["runs"][0]["steady"]["parts"][0]
    twin = load_report(FIXTURES / "report_schema7.json")
    assert old.to_dict() == twin.to_dict()
    (run,) = old.runs
    call, forward = run.steady.parts[:2]
    assert (
        call.math_share is None
        and forward.math_share.low <= forward.math_share.point <= forward.math_share.high
    )
    cost = run.steady.profiling_cost
    assert cost.ratio.low <= cost.ratio.point <= cost.ratio.high
    assert run.scaling.efficiency_interval.point == run.scaling.efficiency
    saved = json.loads(twin.to_json())["runs"][0]
    assert set(saved["steady"]["profiling_cost"]["ratio"]) == {"point", "low", "high"}
    assert "ratio_low" not in saved["steady"]["profiling_cost"] and "efficiency_low" not in saved["scaling"]


def test_a_schema_6_scaling_without_bounds_has_no_interval():
    """One steady epoch on a side: schema 6 wrote null bounds; schema 7 has no interval (null)."""
    data = json.loads((FIXTURES / "report_schema6.json").read_text(encoding="utf-8"))
    data["runs"][0]["scaling"].update(efficiency_low=None, efficiency_high=None)
    scaling = Report.from_dict(data).runs[0].scaling
    assert scaling.efficiency_interval is None and scaling.efficiency > 0


def test_a_schema_6_report_saved_again_is_a_schema_7_report_that_reads_back_the_same(tmp_path):
    old = load_report(FIXTURES / "report_schema6.json")
    again = load_report(old.save(tmp_path / "again.json"))
    assert (
        json.loads((tmp_path / "again.json").read_text(encoding="utf-8"))["schema_version"] == SCHEMA_VERSION
    )
    assert again.to_dict() == old.to_dict() and render_text(again) == render_text(old)
    (epoch, *_) = again.runs[0].epochs
    assert epoch.fence_checks and all("fence_check" not in sample for sample in epoch.samples)


@pytest.mark.parametrize(("stretches", "noted"), [(1, True), (2, True), (3, False), (16, False)])
def test_the_profiling_cost_line_says_when_its_reference_is_a_few_stretches(stretches, noted):
    """Each stretch is one unit of the cost's bootstrap: under 3, the line says the reference is
    noisy (a short run pools few stretches); the count reads in words ("1 unprofiled stretch")."""
    report = probed_report()
    steady = report.runs[0].steady
    steady.profiling_cost = dataclasses.replace(steady.profiling_cost, stretches=stretches)
    text = " ".join(render_text(report).split())  # lines wrap within 120 columns
    assert ("is noisy: read the interval" in text) == noted
    assert ("1 unprofiled stretch)" in text) == (stretches == 1)
