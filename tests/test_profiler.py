"""Bookkeeping of the public profiler API, with a fake clock so every number is exact."""

from __future__ import annotations

import pytest

from tfprof_m1.profiler import NullProfiler, PhaseProfiler


class FakeClock:
    """Advances only when told; ``tick`` seconds per call if set."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, ms: float) -> None:
        self.now += ms / 1000.0


class FakeFence:
    name = "fake"

    def __init__(self, clock: FakeClock, cost_ms: float) -> None:
        self.clock, self.cost_ms, self.calls = clock, cost_ms, []

    def __call__(self, *depends_on):
        self.calls.append(depends_on)
        self.clock.advance(self.cost_ms)


def _batches(clock: FakeClock, count: int, wait_ms: float):
    for index in range(count):
        clock.advance(wait_ms)
        yield index
    clock.advance(wait_ms)  # the wait that ends in StopIteration


def test_phases_steps_and_epoch_add_up_exactly():
    clock = FakeClock()
    fence = FakeFence(clock, cost_ms=0.5)
    profiler = PhaseProfiler(clock=clock, fence=fence)
    with profiler.epoch():
        for batch in profiler.timed(_batches(clock, 3, wait_ms=2.0)):
            with profiler.step(examples=32):
                with profiler.phase("compute"):
                    clock.advance(10.0)
                clock.advance(1.0)  # loop overhead inside the step, in no phase
                profiler.sync(batch)
    (epoch,) = profiler.epochs
    assert epoch.complete
    assert [step.phases_ms for step in epoch.steps] == [pytest.approx({"input": 2.0, "compute": 10.0, "sync": 0.5})] * 3
    assert [step.wall_ms for step in epoch.steps] == pytest.approx([11.5] * 3)  # the input wait came before the step opened
    # the final next() (StopIteration) and the epoch-end fence are outside any step
    assert epoch.unassigned_ms == pytest.approx({"input": 2.0, "sync": 0.5})
    assert epoch.wall_ms == pytest.approx(3 * (2.0 + 11.5) + 2.0 + 0.5)
    assert epoch.examples == 96
    # the fence ran before the epoch (untimed), after each step with the step's token, at the end
    assert fence.calls == [(), (0,), (1,), (2,), ()]


def test_profiler_misuse_is_a_clear_value_error():
    profiler = PhaseProfiler(clock=FakeClock())
    with pytest.raises(ValueError, match="never started"):
        profiler.stop("forward")
    profiler.start("forward")
    with pytest.raises(ValueError, match="already started"):
        profiler.start("forward")
    with pytest.raises(ValueError, match="must not overlap"):
        profiler.start("backward")
    profiler.stop("forward")
    with pytest.raises(ValueError, match="reserved"):
        profiler.start("other")
    with pytest.raises(ValueError, match="inside epoch"):
        with profiler.step():
            pass
    with profiler.epoch():
        with pytest.raises(ValueError, match="do not nest"):
            with profiler.epoch():
                pass


def test_an_interrupted_epoch_is_kept_and_marked_incomplete():
    clock = FakeClock()
    profiler = PhaseProfiler(clock=clock)
    with pytest.raises(KeyboardInterrupt):
        with profiler.epoch():
            with profiler.step():
                profiler.start("forward")
                clock.advance(4.0)
                raise KeyboardInterrupt
    (epoch,) = profiler.epochs
    assert not epoch.complete
    assert epoch.wall_ms == pytest.approx(4.0)
    assert len(epoch.steps) == 1
    assert profiler._active is None  # no phase is left running


def test_iterator_creation_counts_as_input():
    clock = FakeClock()

    class SlowToStart:
        def __iter__(self):
            clock.advance(7.0)  # building a tf.data pipeline happens in iter()
            return iter([1])

    profiler = PhaseProfiler(clock=clock)
    with profiler.epoch():
        for _ in profiler.timed(SlowToStart()):
            with profiler.step():
                pass
    assert profiler.epochs[0].steps[0].phases_ms == pytest.approx({"input": 7.0})


def test_null_profiler_passes_everything_through_and_records_nothing():
    profiler = NullProfiler()
    seen = []
    with profiler.epoch():
        for item in profiler.timed([1, 2]):
            with profiler.step():
                with profiler.phase("forward"):
                    seen.append(item)
                profiler.sync(item)
    assert seen == [1, 2]
    assert profiler.epochs == []
