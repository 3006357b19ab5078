"""Bookkeeping of the public profiler API, with a fake clock so every number is exact."""

from __future__ import annotations

import pytest

from tests import fake_device
from tests.fake_device import FakeClock, FakeDevice
from tfprof_m1.collection.profiler import NullProfiler, PhaseProfiler


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
    assert [step.phases_ms for step in epoch.steps] == [
        pytest.approx({"input": 2.0, "compute": 10.0, "sync": 0.5})
    ] * 3
    assert [step.wall_ms for step in epoch.steps] == pytest.approx(
        [11.5] * 3
    )  # the input wait came before the step opened
    # the final next() (StopIteration) and the epoch-end fence are outside any step
    assert epoch.outside_steps_ms == pytest.approx({"input": 2.0, "sync": 0.5})
    assert epoch.wall_ms == pytest.approx(3 * (2.0 + 11.5) + 2.0 + 0.5)
    assert epoch.examples == 96
    # the fence ran before the epoch (untimed), 9 times more to learn its idle cost, after each
    # step with the step's token, and at the end
    assert fence.calls == [()] * 10 + [(0,), (1,), (2,), ()]
    assert epoch.fence_idle_ms == pytest.approx(0.5)


def test_profiler_misuse_is_a_clear_value_error():
    profiler = PhaseProfiler(clock=FakeClock())
    with pytest.raises(ValueError, match="never started"):
        profiler.stop("forward")
    profiler.start("forward")
    with pytest.raises(ValueError, match="already started"):
        profiler.start("forward")
    profiler.start("backward")  # nests: forward/backward
    with pytest.raises(ValueError, match="never started.*open: 'forward/backward'"):
        profiler.stop("forward")
    profiler.stop("backward")
    profiler.stop("forward")
    for bad in ("other", "", "a/b"):
        with pytest.raises(ValueError, match="reserved"):
            profiler.start(bad)
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
    assert not profiler._active  # no phase is left running


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


def _async_device(clock: FakeClock) -> tuple[FakeDevice, fake_device.FakeFence]:
    """Calls queue device work; the fence waits for it, then costs its own 0.5 ms."""
    device = FakeDevice(clock)
    return device, fake_device.FakeFence(device, 0.5)


def test_a_sync_right_after_a_phase_hands_the_device_wait_to_that_phase():
    clock = FakeClock()
    device, fence = _async_device(clock)
    profiler = PhaseProfiler(clock=clock, fence=fence)
    with profiler.epoch():
        with profiler.step():
            with profiler.phase("forward"):
                device.run(host_ms=1.0, device_ms=5.0)
            profiler.sync()
            backward = profiler.call("backward", device.run, 2.0, 10.0, sample="backward_call")
            profiler.sync()  # nothing follows a phase any more: the fence is sync's alone
    (step,) = profiler.epochs[0].steps
    assert backward == "token"
    assert step.phases_ms == pytest.approx({"forward": 6.0, "backward": 12.0, "sync": 1.5})
    assert step.waits_ms == pytest.approx({"forward": 5.0, "backward": 10.0})
    assert step.samples_ms == {"backward_call": pytest.approx([2.0, 10.0])}


def test_nested_phases_keep_exclusive_time_and_own_their_device_work():
    """A GAN-style step: generator and discriminator each with forward/backward inside; a fence
    inside an outer phase goes to the inner phase before it and never to the outer one."""
    clock = FakeClock()
    device, fence = _async_device(clock)
    profiler = PhaseProfiler(clock=clock, fence=fence)
    with profiler.epoch():
        with profiler.step(kind="split"):
            with profiler.phase("generator"):
                clock.advance(1.0)  # the generator's own Python between its parts
                with profiler.phase("forward"):
                    device.run(host_ms=1.0, device_ms=4.0)
                profiler.sync()
                with profiler.phase("backward", sync=True) as backward:
                    backward.outputs = device.run(host_ms=2.0, device_ms=6.0)
            with profiler.phase("clip", sync=True):
                device.run(host_ms=0.5, device_ms=1.0)
    (step,) = profiler.epochs[0].steps
    assert list(step.phases_ms) == [
        "generator",
        "generator/forward",
        "sync",
        "generator/backward",
        "clip",
    ]  # first started first
    assert step.phases_ms == pytest.approx(
        {
            "generator": 1.0,
            "generator/forward": 5.0,
            "generator/backward": 8.0,
            "clip": 1.5,
            "sync": 1.5,
        }
    )
    assert step.waits_ms == pytest.approx({"generator/forward": 4.0, "generator/backward": 6.0, "clip": 1.0})
    assert sum(step.phases_ms.values()) == pytest.approx(step.wall_ms)


def test_an_unprofiled_stretch_times_nothing_inside_and_ends_with_one_fence():
    clock = FakeClock()
    device, fence = _async_device(clock)
    profiler = PhaseProfiler(clock=clock, fence=fence)
    with profiler.epoch():
        batches = profiler.timed(_batches(clock, 4, wait_ms=1.0))
        with profiler.step():
            next(batches)
            profiler.call("compute", device.run, 1.0, 3.0)
        with profiler.unprofiled() as stretch:
            for _ in range(2):
                next(batches)
                stretch.token = device.run(1.0, 3.0)
                stretch.steps += 1
                stretch.examples += 32
        next(batches)
        with profiler.step():
            pass
    epoch = profiler.epochs[0]
    (timing,) = epoch.stretches
    # input 1 and dispatch 1, then the device runs 3 + 3 ms in order while the host fetches and
    # dispatches the second step; the closing fence waits for the device and costs 0.5
    assert (timing.steps, timing.examples, timing.before_step) == (2, 64, 1)
    assert timing.wall_ms == pytest.approx(1 + 1 + 6 + 0.5)
    assert timing.started_ms == pytest.approx(5.5)  # step 0: input 1, dispatch 1, device 3, fence 0.5
    assert [step.started_ms for step in epoch.steps] == pytest.approx([0.0, 5.5 + timing.wall_ms])
    assert epoch.steps[1].phases_ms == pytest.approx({"input": 1.0})
    with pytest.raises(ValueError, match="outside any step"):
        with profiler.epoch():
            with profiler.step():
                with profiler.unprofiled():
                    pass


def test_the_coverage_fence_reports_what_the_main_fence_left_queued():
    clock = FakeClock()
    _, fence = _async_device(clock)
    leftover = []

    class Coverage:
        name = "coverage"

        def __call__(self):
            clock.advance(0.2 + (leftover.pop() if leftover else 0.0))

    profiler = PhaseProfiler(clock=clock, fence=fence, coverage_fence=Coverage())
    with profiler.epoch():
        with profiler.step():
            leftover.append(3.0)  # the first coverage call still finds 3 ms of work
            assert profiler.check_fence() == pytest.approx(3.0)
    (step,) = profiler.epochs[0].steps
    assert (step.fence_check.first_ms, step.fence_check.leftover_ms) == pytest.approx((3.2, 3.0))
    assert "fence_check" not in step.samples_ms  # probe samples are [host, wait] pairs only
    assert step.phases_ms["profiling"] == pytest.approx(3.4)


def test_a_block_of_unfenced_calls_is_closed_by_the_next_fenced_step_and_owns_its_wait():
    """Three block steps on a fake device (2 ms host, 5 ms device each), then a fenced step: the
    fenced step's own fence waits only for its own work, the block's fence for the block's."""
    from tests.fake_device import FakeClock, FakeDevice, FakeFence

    clock = FakeClock()
    device = FakeDevice(clock)
    fence = FakeFence(device, 0.0)
    profiler = PhaseProfiler(clock=clock, fence=fence, annotate=False)
    with profiler.epoch() as epoch:
        opened = fence.calls  # the epoch-start fence and the idle-cost calls
        for _ in range(3):
            with profiler.step("block"):
                profiler.call("compute", device.run, 2.0, 5.0, fence=False)
        assert fence.calls == opened and len(epoch.steps) == 0  # the block is open: no fence yet
        with profiler.step("fused"):
            profiler.call("compute", device.run, 2.0, 5.0)
    assert fence.calls == opened + 3  # the block's, the fused step's, the epoch end's
    block, fused = list(epoch.steps)[:3], list(epoch.steps)[3]
    # the device ran 15 ms from 2 ms on; the host dispatched until 6 ms: the block waited 11 ms
    assert [step.phases_ms["compute"] for step in block] == pytest.approx([(6.0 + 11.0) / 3] * 3)
    assert [step.waits_ms["compute"] for step in block] == pytest.approx([11.0 / 3] * 3)
    assert fused.phases_ms["compute"] == pytest.approx(7.0) and fused.waits_ms["compute"] == pytest.approx(
        5.0
    )
    assert sum(step.wall_ms for step in epoch.steps) == pytest.approx(epoch.wall_ms)


def test_a_block_cut_short_keeps_its_steps_and_unfenced_calls_need_a_step():
    from tests.fake_device import FakeClock, FakeDevice, FakeFence

    clock = FakeClock()
    device = FakeDevice(clock)
    profiler = PhaseProfiler(clock=clock, fence=FakeFence(device, 0.0), annotate=False)
    with pytest.raises(KeyboardInterrupt), profiler.epoch():
        for _ in range(2):
            with profiler.step("block"):
                profiler.call("compute", device.run, 2.0, 5.0, fence=False)
        raise KeyboardInterrupt
    (epoch,) = profiler.epochs
    assert epoch.steps.kinds() == ["block", "block"] and not epoch.complete
    assert [step.phases_ms["compute"] for step in epoch.steps] == pytest.approx(
        [2.0, 2.0]
    )  # no fence: dispatch
    with profiler.epoch(), pytest.raises(ValueError, match="inside step"):
        profiler.call("compute", device.run, 2.0, 5.0, fence=False)
