from __future__ import annotations

import numpy as np
import pytest

from tfprof_m1.base.stats import summarize


@pytest.mark.parametrize(
    "values",
    [[3.0], [1.0, 2.0], [5.0, 1.0, 4.0, 2.0, 3.0], list(np.random.default_rng(1).exponential(size=101))],
)
def test_summary_matches_numpy(values):
    summary = summarize(values)
    assert summary.median == pytest.approx(np.median(values))
    assert summary.q1 == pytest.approx(np.percentile(values, 25))
    assert summary.iqr == pytest.approx(np.percentile(values, 75) - np.percentile(values, 25))
    assert summary.mean == pytest.approx(np.mean(values))


def test_noisy_when_iqr_exceeds_ten_percent_of_median():
    assert not summarize([100.0, 101.0, 102.0, 103.0]).noisy
    assert summarize([80.0, 100.0, 120.0, 140.0]).noisy
    assert summarize([]) is None
