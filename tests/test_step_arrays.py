"""Per-step values are held as arrays from load to compare, and every figure is what lists gave.

A report's per-step values (``EpochReport.step_ms``) are :class:`StepValues`, one float64 array a
phase, whether read from a file (packed, schema 8, or lists, schema 7 and older) or built from a run;
research code may still put plain lists there. Each form must load, render and compare to the same
text and figures.
"""

from __future__ import annotations

import copy
import json
import pickle

import numpy as np
import pytest

from tests.test_report_size import noisy_report
from tfprof_m1.analysis.compare import compare
from tfprof_m1.analysis.estimate import column_parts, sample_parts
from tfprof_m1.report.model import load_report
from tfprof_m1.report.step_codec import (
    ProbeSamples,
    StepValues,
    pack_samples,
    unpack_kinds,
    unpack_samples,
    unpack_values,
)
from tfprof_m1.views.compare_render import render_comparison
from tfprof_m1.views.render import render_text


@pytest.fixture(scope="module")
def reports():
    """Two noisy reports of the real loop on the fake device (long enough for block summaries)."""
    return noisy_report(600, epochs=3, seed=7), noisy_report(600, epochs=3, seed=11)


def _as_lists(report) -> dict:
    """``report`` as schema 7 wrote it: every per-step value a JSON number, kinds a list."""
    data = json.loads(report.to_json())
    data["schema_version"] = 7
    for run in data["runs"]:
        for epoch in run["epochs"]:
            epoch["step_ms"] = {name: unpack_values(packed) for name, packed in epoch["step_ms"].items()}
            epoch["step_kinds"] = list(unpack_kinds(epoch["step_kinds"]))
            epoch["samples"] = list(unpack_samples(epoch["samples"]))
    return data


def test_reports_of_either_form_load_render_and_compare_identically(reports, tmp_path):
    first, second = reports
    packed = [load_report(report.save(tmp_path / f"{k}.json")) for k, report in enumerate(reports)]
    listed = []
    for k, report in enumerate(reports):
        path = tmp_path / f"lists{k}.json"
        path.write_text(json.dumps(_as_lists(report)))
        listed.append(load_report(path))
    for built, *loaded in zip(reports, packed, listed):
        for markdown in (False, True):
            assert {render_text(report, markdown=markdown) for report in (built, *loaded)} == {
                render_text(built, markdown=markdown)
            }
        for report in loaded:
            assert report.runs == built.runs
            for epoch in report.runs[0].epochs:
                assert all(isinstance(values, StepValues) for values in epoch.step_ms.values())
    assert isinstance(packed[0].runs[0].epochs[1].samples, ProbeSamples)
    assert not isinstance(listed[0].runs[0].epochs[1].samples, ProbeSamples)
    expected = render_comparison(compare([first, second]))
    assert render_comparison(compare(packed)) == expected
    assert render_comparison(compare(listed)) == expected
    # research code may put plain lists back: the same figures
    for report in listed:
        for epoch in report.runs[0].epochs:
            epoch.step_ms = {name: list(values) for name, values in epoch.step_ms.items()}
    assert render_comparison(compare(listed)) == expected


def test_built_reports_hold_arrays_that_save_and_load_exactly(reports, tmp_path):
    report = reports[0]
    epoch = report.runs[0].epochs[1]
    assert all(isinstance(values, StepValues) for values in epoch.step_ms.values())
    assert load_report(report.save(tmp_path / "r.json")) == report


def test_step_values_read_as_a_sequence_of_floats():
    values = StepValues([0.5, 1.25, 2.0])
    assert values == [0.5, 1.25, 2.0] and [0.5, 1.25, 2.0] == values and values != [0.5, 1.25]
    assert values[1] == 1.25 and type(values[1]) is float and values[-1] == 2.0
    assert values[1:] == [1.25, 2.0] and isinstance(values[1:], StepValues)
    assert list(values) == [0.5, 1.25, 2.0] and len(values) == 3 and min(values) == 0.5
    assert repr(values) == "[0.5, 1.25, 2.0]"
    assert np.asarray(values) is values.array and np.asarray(values, dtype=np.float32).dtype == np.float32
    assert copy.deepcopy(values) == values and pickle.loads(pickle.dumps(values)) == values
    with pytest.raises(ValueError):
        values.array[0] = 9.0  # read-only: a report's values do not change under a view
    source = np.array([1.0, 2.0])
    held = StepValues(source)
    source[0] = 5.0
    assert held == [1.0, 2.0]  # a copy of what it was given
    with pytest.raises(TypeError):
        hash(values)


def test_probe_samples_read_as_the_list_they_stand_for(reports):
    samples = reports[0].runs[0].epochs[1].samples
    columns = unpack_samples(pack_samples(samples))
    assert isinstance(columns, ProbeSamples) and len(columns) == len(samples) > 1
    assert columns == samples and samples == columns and list(columns) == samples
    assert columns[0] == samples[0] and columns[-1] == samples[-1] and columns[1:] == samples[1:]
    assert copy.deepcopy(columns) == samples and pickle.loads(pickle.dumps(columns)) == samples
    with pytest.raises(IndexError):
        columns[len(samples)]
    # the parts from whole columns are the parts sample by sample, float for float
    by_column = column_parts([columns, columns])
    by_sample = sample_parts(list(samples) * 2)
    assert by_column is not None and list(by_column) == list(by_sample)
    for part, values in by_sample.items():
        assert by_column[part].tolist() == values
    assert column_parts([list(samples)])["call"].tolist() == sample_parts(samples)["call"]  # lists too
    mixed = [*samples[:3], {**samples[3], "extra_variant": [1.0, 0.0]}]
    assert column_parts([columns, mixed]) is None  # variants that differ: sample by sample


def test_pooled_samples_stay_columns_when_epochs_order_their_variants_differently():
    """Each probe step rotates its calls, so epochs can meet the variants in different orders: the
    pooled samples are still columns (in the first epoch's order), equal to the samples pooled as a
    list, and the parts read from them are the same floats."""
    from tfprof_m1.analysis.estimate import estimate_parts
    from tfprof_m1.report.step_codec import joined_samples

    first = [{"empty_call": [0.5, 0.0], "forward_only": [1.5, 0.1], "forward_backward": [4.0, 0.2],
              "full_step": [5.5, 0.3]} for _ in range(3)]  # fmt: skip
    second = [{name: [value + 0.25 * k for value in sample[name]] for name in reversed(list(sample))}
              for k, sample in enumerate(first)]  # fmt: skip
    pooled = joined_samples([first, second])
    assert isinstance(pooled, ProbeSamples) and list(pooled.columns) == list(first[0])
    assert pooled == first + second
    as_list = estimate_parts(first + second)
    assert estimate_parts(pooled) == as_list
