from __future__ import annotations

import numpy as np
import pytest

from tfprof_m1.base.stats import (
    order_statistics,
    pairwise_sum,
    quantile,
    resampled_medians,
    row_medians,
    summarize,
    summarize_array,
)


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


def _sorted_summary(values):
    """The figures as a full sort gives them (the rule before summaries became selections)."""
    ordered = np.sort(np.asarray(values, dtype=float), kind="stable")
    return [quantile(ordered, q) for q in (0.5, 0.25, 0.75)] + [ordered[0], ordered[-1]]


@pytest.mark.parametrize("count", [*range(1, 13), 101, 1000, 1001, 4096])
def test_order_statistics_by_selection_are_the_sorts_floats(count):
    rng = np.random.default_rng(count)
    for values in (rng.exponential(size=count), rng.integers(0, 4, size=count).astype(float)):
        summary = summarize_array(values)
        figures = [summary.median, summary.q1, summary.q3, summary.min, summary.max]
        assert figures == _sorted_summary(values)  # exact: the same floats, ties and all
        # one rule for every form the values are held in, the mean numpy's own
        assert summary.mean == np.mean(values)
        assert summarize(values.tolist()) == summary == summarize_array(values[::-1].copy()[::-1])
        assert summarize_array(values.astype(np.float32)) == summarize(values.astype(np.float32).tolist())


def _in_runs(rng, count, values_per_run=20):
    """``count`` values in runs of equal ones, as per-step values of block steps (a block's compute
    shared by its steps) and of fences that mostly wait 0: runs of 1-2x ``values_per_run``, their
    values drawn from few distinct ones (so runs apart share values) with zeros among them."""
    repeats = rng.integers(1, 2 * values_per_run, size=count)
    levels = np.round(rng.exponential(size=max(2, count // values_per_run)), 2)
    levels[0] = 0.0
    return np.repeat(rng.choice(levels, size=count), repeats)[:count]


@pytest.mark.parametrize("count", [63, 64, 65, 100, 1000, 4097, 20000])
def test_order_statistics_of_values_in_runs_are_the_sorts_floats(count):
    """Values in runs are read from their runs (a sort of the runs, not of the values): the same
    floats as a full sort, ties across runs, zeros, a run at either end, and the run-length rule's
    threshold either side (few long runs, then every value a run of its own)."""
    rng = np.random.default_rng(count)
    for per_run in (2, 4, 20, 100, count):
        values = _in_runs(rng, count, per_run)
        summary = summarize_array(values)
        assert [summary.median, summary.q1, summary.q3, summary.min, summary.max] == _sorted_summary(values)
        assert summary.mean == np.mean(values)
        compute = order_statistics(values.copy())
        for share in (1.0, 0.31, 3e-7):  # a part's values, compute times its share, read the same way
            assert compute.summary(float(np.mean(values * share)), share) == summarize_array(values * share)
    # a quartile's order statistic the last of one run, the next one the first of the next
    boundary = np.repeat(rng.permutation(count // 25 + 1).astype(float), 25)[:count]
    summary = summarize_array(boundary)
    assert [summary.median, summary.q1, summary.q3, summary.min, summary.max] == _sorted_summary(boundary)
    values = _in_runs(rng, count, 20)
    values[count // 2] = np.nan  # NaN in a run of its own: the sorted rule, as every array with NaN
    assert order_statistics(values) is None and np.isnan(summarize_array(values).max)


def test_values_holding_nan_are_summarised_as_sorted():
    summary = summarize_array([3.0, float("nan"), 1.0, 2.0])
    assert (summary.median, summary.q1, summary.min) == (2.5, 1.75, 1.0)
    assert np.isnan(summary.q3) and np.isnan(summary.max) and np.isnan(summary.mean)


@pytest.mark.parametrize("count", [1, 2, 3, 90, 200])
def test_row_medians_are_numpys_medians(count):
    rows = np.random.default_rng(count).exponential(size=(50, count))
    assert row_medians(rows).tolist() == np.median(rows, axis=1).tolist()
    rows[3, 0] = np.nan
    assert np.isnan(row_medians(rows)[3]) and row_medians(rows)[4] == np.median(rows[4])
    with pytest.raises(ValueError):
        row_medians(np.zeros((2, 0)))


@pytest.mark.parametrize("count", [1, 2, 7, 64, 65, 200])
def test_resampled_medians_are_numpys_medians_of_each_resample(count):
    rng = np.random.default_rng(count)
    units = rng.normal(size=(count, 3))
    units[:, 1] = np.round(units[:, 1], 1)  # ties
    units[:, 2] = 0.0
    picks = rng.integers(0, count, size=(500, count))
    assert np.array_equal(resampled_medians(units, picks), np.median(units[picks], axis=1))
    odd = rng.integers(0, count, size=(50, 5))  # fewer draws than units, an odd number
    assert np.array_equal(resampled_medians(units, odd), np.median(units[odd], axis=1))
    units[0, 0] = np.nan
    assert np.array_equal(resampled_medians(units, picks), np.median(units[picks], axis=1), equal_nan=True)
    with pytest.raises(ValueError):
        resampled_medians(units, np.zeros((3, 0), dtype=int))


def test_resampled_medians_outside_the_counting_window_are_still_numpys(monkeypatch):
    import tfprof_m1.base.stats as stats

    monkeypatch.setattr(stats, "MEDIAN_WINDOW_SDS", 0.05)  # most resamples' middles fall outside
    rng = np.random.default_rng(9)
    units = rng.normal(size=(150, 2))
    for draws in (150, 149):
        picks = rng.integers(0, 150, size=(400, draws))
        assert np.array_equal(resampled_medians(units, picks), np.median(units[picks], axis=1))


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 101, 1000])
def test_order_statistics_scaled_are_the_products_summary(count):
    """A part's per-step values are the fused compute times its share: their Summary is read from the
    compute's order statistics, scaled, and is the products' own, float for float."""
    rng = np.random.default_rng(count)
    compute = np.round(rng.gamma(2.0, 1.5, size=count), 3)  # ties too
    compute[: count // 4] = 0.0
    statistics = order_statistics(compute.copy())
    for share in (1.0, 0.7488127626210541, 0.01874801345148705, 3e-7):
        products = compute * share
        assert statistics.summary(float(np.mean(products)), share) == summarize_array(products)
    with pytest.raises(ValueError):
        statistics.summary(0.0, 0.0)
    assert order_statistics(np.array([1.0, np.nan])) is None and order_statistics(np.zeros(0)) is None


def test_a_phase_total_is_one_float_whatever_holds_the_values():
    """A total of per-step values is the same float from a list, a float32 array, a strided view or
    an array: numpy's pairwise sum of them as a contiguous float64 array, closer to the exact sum
    than adding one value at a time (values of very different sizes)."""
    import math

    rng = np.random.default_rng(4)
    values = np.concatenate([rng.exponential(size=5000) * 1e-3, [1e6], rng.exponential(size=5000)])
    wide = np.empty(2 * len(values))
    wide[::2] = values
    forms = [values, values.tolist(), wide[::2], values.astype(np.float32).astype(np.float64)]
    totals = [pairwise_sum(form) for form in forms[:3]]
    assert totals[0] == totals[1] == totals[2] == float(np.sum(values))
    assert pairwise_sum(values.astype(np.float32)) == pairwise_sum(forms[3])
    exact = math.fsum(values)
    assert abs(totals[0] - exact) <= abs(sum(values.tolist()) - exact)
    assert pairwise_sum([]) == 0.0 and pairwise_sum(np.zeros(0, dtype=np.float32)) == 0.0
