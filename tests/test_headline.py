"""The headline table says what its figures are: the loop the framework overhead was taken against,
a negative overhead put against the spread, and no loop columns when only ``fit`` ran."""

from __future__ import annotations

import dataclasses

from tests.report_factory import make_report
from tfprof_m1.views.render import headline_table, render_text

OVERHEAD = 4


def _with_headline(**changes):
    report = make_report()
    run = report.runs[0]
    run.headline = dataclasses.replace(run.headline, **changes)
    return report, run


def test_the_overhead_header_names_the_loop_it_was_taken_against():
    report, _ = _with_headline(
        framework_overhead_ms=500.0, framework_overhead_ratio=1.2, overhead_against="profiled"
    )
    headers, _, notes = headline_table(report)
    assert headers[OVERHEAD] == "framework overhead (fit − profiled loop)"
    report, _ = _with_headline(
        framework_overhead_ms=500.0, framework_overhead_ratio=1.2, overhead_against="unprofiled"
    )
    assert headline_table(report)[0][OVERHEAD] == "framework overhead (fit − unprofiled loop)"
    two = make_report(models=("mnist", "cifar10"))
    two.runs[0].headline = dataclasses.replace(
        two.runs[0].headline,
        framework_overhead_ms=10.0,
        framework_overhead_ratio=1.1,
        overhead_against="profiled",
    )
    two.runs[1].headline = dataclasses.replace(
        two.runs[1].headline,
        framework_overhead_ms=10.0,
        framework_overhead_ratio=1.1,
        overhead_against="unprofiled",
    )
    headers, _, notes = headline_table(two)
    assert headers[OVERHEAD].endswith("(fit − unprofiled loop)")
    assert notes == [
        "mnist: framework overhead against the profiled loop (its profiling cost was not measured)"
    ]


def test_a_negative_overhead_is_put_against_the_epochs_spread():
    report, run = _with_headline(
        framework_overhead_ms=-1.0, framework_overhead_ratio=0.99, overhead_against="unprofiled"
    )
    notes = headline_table(report)[2]
    assert len(notes) == 1 and "inside the epochs' spread" in notes[0]
    beyond = -(run.steady.epoch_iqr_ms + max(run.fit.epoch_ms) + 1.0)
    report, _ = _with_headline(
        framework_overhead_ms=beyond, framework_overhead_ratio=0.5, overhead_against="unprofiled"
    )
    (note,) = headline_table(report)[2]
    assert "beyond the epochs' spread" in note
    assert "beyond the epochs' spread" in render_text(report)


def test_a_fit_only_report_has_no_custom_loop_columns():
    report = make_report()
    report.runs[0].source = "fit"
    headers, rows, _ = headline_table(report)
    assert headers == ["model", "fit epoch (steady)", "fit epoch (all, as the article)", "first epoch fit"]
    assert all(len(row) == len(headers) for row in rows)
    assert "custom loop epoch" not in render_text(report)
