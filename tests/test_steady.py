"""The one steady-epoch rule: at assembly from measured epochs, and when reading a report."""

from __future__ import annotations

from tests.report_factory import make_report
from tfprof_m1.analysis.steady import recorded_steady_epochs, steady_epochs
from tfprof_m1.collection.profiler import EpochTiming


def _epochs(*complete: bool) -> list[EpochTiming]:
    return [EpochTiming(index, 10.0, complete=done) for index, done in enumerate(complete)]


def test_steady_epochs_are_the_complete_ones_after_the_warm_up():
    assert [e.index for e in steady_epochs(_epochs(True, True, True))] == [1, 2]
    assert [e.index for e in steady_epochs(_epochs(True, True, False))] == [1]  # a cut-short epoch never
    assert [e.index for e in steady_epochs(_epochs(True))] == [0]  # the warm-up alone stands in
    assert steady_epochs(_epochs(False)) == []


def test_a_later_run_in_one_profiler_has_its_own_warm_up():
    epochs = _epochs(True, True, True, True)
    epochs[2].warmup = True  # a second run started in the same profiler
    assert [e.index for e in steady_epochs(epochs)] == [1, 3]


def test_a_report_is_read_with_the_steady_epochs_it_recorded_complete_ones_only():
    run = make_report("cpu").runs[0]
    assert [e.index for e in recorded_steady_epochs(run)] == run.steady.epochs == [1, 2]
    run.steady.epochs = [2]  # what the report says is what counts, not the rule applied again
    assert [e.index for e in recorded_steady_epochs(run)] == [2]
    run.epochs[2].complete = False  # an older report's interrupted epoch never counts
    assert recorded_steady_epochs(run) == []
