"""The one bootstrap engine: seeded rows of indices, percentile bounds, a statistic's replicates."""

from __future__ import annotations

import numpy as np
import pytest

from tfprof_m1.analysis.bootstrap import bootstrap, generator, percentile_interval, resample
from tfprof_m1.report.interval import Interval


def _mean(values):
    return {"mean": sum(values) / len(values)} if values else None


def test_bootstrap_is_reproducible_and_its_interval_holds_the_mean():
    items = list(range(30))
    draws = bootstrap(items, _mean)
    assert np.array_equal(draws["mean"], bootstrap(items, _mean)["mean"]) and len(draws["mean"]) == 1000
    assert not np.array_equal(draws["mean"], bootstrap(items, _mean, seed=1)["mean"])
    interval = percentile_interval(14.5, draws["mean"])
    assert interval.low < 14.5 < interval.high


def test_resample_draws_rows_of_indices_with_replacement():
    rows = resample(generator(), 7, replicates=200)
    assert rows.shape == (200, 7) and rows.min() >= 0 and rows.max() <= 6
    assert any(len(set(row)) < 7 for row in rows.tolist())  # with replacement: some rows repeat an item
    assert np.array_equal(rows, resample(generator(), 7, replicates=200))


def test_percentile_interval_takes_the_2_5th_and_97_5th_percentiles():
    draws = np.arange(1001, dtype=float)  # percentiles fall on whole values: 25 and 975
    assert percentile_interval(500.0, draws) == Interval(500.0, 25.0, 975.0)
    with pytest.raises(ValueError, match="no draws"):
        percentile_interval(1.0, [])


def test_a_statistic_that_has_no_value_on_a_resample_adds_nothing_to_it():
    def odd_only(values):
        return {"first": values[0]} if values[0] % 2 else None

    draws = bootstrap([1, 2, 3, 4], odd_only, replicates=400)
    assert 0 < len(draws["first"]) < 400 and set(draws["first"].tolist()) <= {1.0, 3.0}
