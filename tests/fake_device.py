"""A fake in-order device on a fake clock: GPU-shaped asynchrony with exact numbers.

A call spends ``host_ms`` on the host, then queues ``device_ms`` of work; the device runs queued
work in order, starting each piece when it is queued or when the previous one ends. A fence waits
until the device is idle, then costs ``fence_ms`` itself. ``FakeTrainSteps`` gives the real loop
(and the real ``TrainSteps.probe``) steps whose parts are known exactly.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from tfprof_m1.base.phases import EMPTY_CALL, FORWARD_BACKWARD, FORWARD_ONLY, FULL_STEP
from tfprof_m1.collection.steps import StepFacts, TrainSteps


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, ms: float) -> None:
        self.now += ms / 1000.0


class FakeDevice:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.busy_until = 0.0

    def run(self, host_ms: float, device_ms: float) -> str:
        self.clock.advance(host_ms)
        self.busy_until = max(self.busy_until, self.clock.now) + device_ms / 1000.0
        return "token"

    def wait(self) -> None:
        self.clock.now = max(self.clock.now, self.busy_until)


class FakeFence:
    name = "fake"

    def __init__(self, device: FakeDevice, fence_ms: float) -> None:
        self.device, self.fence_ms, self.calls = device, fence_ms, 0

    def __call__(self, *depends_on) -> None:
        self.calls += 1
        self.device.wait()
        self.device.clock.advance(self.fence_ms)


@dataclass(frozen=True)
class Work:
    host_ms: float
    device_ms: float


@dataclass(frozen=True)
class StepModel:
    """Each prefix call's host and device time; the parts are the differences."""

    empty: Work
    forward_only: Work
    forward_backward: Work
    full: Work


class Batch:
    shape = (32,)


class FakeTrainSteps(TrainSteps):
    """TrainSteps whose calls run on a FakeDevice (the probe logic is TrainSteps' own)."""

    def __init__(self, device: FakeDevice, model: StepModel) -> None:  # noqa: D107 - no TensorFlow here
        def call(work: Work):
            return lambda images, labels: device.run(work.host_ms, work.device_ms)

        self.probes = {
            EMPTY_CALL: call(model.empty),
            FORWARD_ONLY: call(model.forward_only),
            FORWARD_BACKWARD: call(model.forward_backward),
            FULL_STEP: call(model.full),
        }
        self.fused = self.probes[FULL_STEP]
        self._probe_state = []  # no model state to put back after probe calls
        self.accuracy_note = None

    def facts(self) -> StepFacts:
        return StepFacts()  # no model: nothing to say of its policy or inputs

    def reset_metrics(self) -> None:
        pass

    def loss_is_finite(self) -> bool:
        return True  # the fake device computes no loss

    def read_metrics(self):
        return None, None


def batches(clock: FakeClock, count: int, input_ms: float = 0.0):
    class Dataset:
        def __iter__(self):
            for _ in range(count):
                clock.advance(input_ms)
                yield Batch(), None

    return Dataset()


def plain_epoch_ms(model: StepModel, steps: int, epochs: int, input_ms: float, fence_ms: float) -> float:
    """A plain loop's mean epoch after the first (ms) on a fake device of its own: the fused steps
    one after another with no timing and one fence an epoch (``run_unprofiled_loop``), the reference a
    profiled run's true cost is taken against."""
    from tfprof_m1.collection.loop import run_unprofiled_loop

    clock = FakeClock()
    device = FakeDevice(clock)
    fence = FakeFence(device, fence_ms)
    train_steps = FakeTrainSteps(device, model)
    batch = iter(batches(clock, steps * epochs, input_ms=input_ms))
    walls = []
    for _ in range(epochs):
        start = clock()
        # drawn as the loop runs (a list drawn first would put every input wait before the steps)
        run_unprofiled_loop(train_steps, itertools.islice(batch, steps), fence)
        walls.append((clock() - start) * 1000.0)
    return sum(walls[1:]) / (epochs - 1)
