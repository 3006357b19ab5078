"""Golden text of every renderer, built from report fixtures (tests/report_factory.py).

A renderer's output is what users paste into issues: any change to it must be seen in review. The
expected text is in tests/golden/; after an intended change, rewrite it with
``TFPROF_M1_UPDATE_GOLDEN=1 make test PYTEST_ARGS=tests/test_golden.py`` and read the diff.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

from tests.report_factory import make_report, report_from_epochs, timed_epochs, worker_report
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
    old = load_report(FIXTURES / "report_schema5.json")
    assert old.schema_version == 5 < SCHEMA_VERSION
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
    assert json.loads(render(report, "json")) == report.to_dict()
    comparisons = compare([report, make_report("metal:Apple M1", scale=0.5)])
    assert render(comparisons) == render_comparison(comparisons)
    assert render(comparisons, "markdown") == render_comparison(comparisons, markdown=True)
    with pytest.raises(ValueError, match="'json' renders a Report"):
        render(comparisons, "json")
    with pytest.raises(ValueError, match="'html': use one of table, markdown, json"):
        render(report, "html")
