"""Notebook-style repeated runs: the loop's garbage freeze is undone, earlier models are freed."""

from __future__ import annotations

import gc
import weakref

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfprof_m1 import PhaseProfiler, Sampling, TrainSteps, run_profiled_loop
from tfprof_m1.collection.fit import EpochTimer
from tfprof_m1.collection.garbage import GarbageSettler

pytestmark = [pytest.mark.tf]


def _one_profile() -> weakref.ref:
    x = np.random.default_rng(0).normal(size=(64, 6)).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices((x, (x[:, 0] > 0).astype("int32"))).batch(16)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8), keras.layers.Dense(2)])
    steps = TrainSteps(
        model,
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        keras.optimizers.Adam(),
        dataset.element_spec,
    )
    run_profiled_loop(
        steps,
        dataset,
        epochs=2,
        steps_per_epoch=4,
        profiler=PhaseProfiler(),
        sampling=Sampling(every=2, min_samples=1, reference_share=0.0),
    )
    return weakref.ref(model)


def test_five_profiles_in_one_process_leave_nothing_frozen_and_free_their_models():
    gc.collect()
    assert gc.get_freeze_count() == 0
    models = [_one_profile() for _ in range(5)]
    assert gc.get_freeze_count() == 0  # each run undid its own freeze
    gc.collect()
    assert [model() is None for model in models] == [True] * 5


def test_fit_with_the_epoch_timer_unfreezes_at_the_end():
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    timer = EpochTimer(settle_garbage=True)
    model.fit(
        np.zeros((32, 6), "float32"), np.zeros((32, 2), "float32"), epochs=2, verbose=0, callbacks=[timer]
    )
    assert len(timer.epoch_ms) == 2 and gc.get_freeze_count() == 0
    reference = weakref.ref(model)
    del model, timer
    gc.collect()
    assert reference() is None


def test_a_freeze_made_by_someone_else_is_left_alone():
    kept = [object() for _ in range(10)]
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with GarbageSettler() as garbage:
            garbage.settle()
            assert gc.get_freeze_count() == frozen  # collected, not frozen: the freeze is not ours
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
    del kept


class _Cyclic:
    """Garbage only the cycle collector frees (it refers to itself)."""

    def __init__(self) -> None:
        self.me = self


def test_what_was_alive_at_one_settle_and_dropped_after_is_collected_at_the_next():
    with GarbageSettler() as garbage:
        garbage.settle()
        held = _Cyclic()  # an epoch's iterator, still referenced when the next epoch settles
        alive = weakref.ref(held)
        garbage.settle()
        assert gc.get_freeze_count() > 0 and alive() is not None
        del held
        garbage.settle()
        assert alive() is None  # collected, not kept frozen until the run ends
    assert gc.get_freeze_count() == 0


def test_a_full_settle_runs_by_budget_and_collects_what_a_freeze_caught():
    """Between full settles only what is new is collected (the frozen heap is not walked); a full
    settle comes once FULL_SETTLE_SHARE of the epochs since the last one covers its measured cost,
    and it collects what was alive at a freeze and dropped after."""
    from tfprof_m1.collection.garbage import FULL_SETTLE_SHARE

    with GarbageSettler() as garbage:
        garbage.settle(None)  # a run's first settle is full
        assert garbage.full_settles == 1 and garbage.full_ms is not None and garbage.full_ms > 0
        held = _Cyclic()
        alive = weakref.ref(held)
        garbage.settle(0.0)  # no epoch time to pay for a full one: only the new objects, frozen
        assert garbage.full_settles == 1 and gc.get_freeze_count() > 0
        del held
        short_epoch_ms = 0.25 * garbage.full_ms / FULL_SETTLE_SHARE
        for _ in range(3):  # three quarters of a full settle's budget: still quick settles
            garbage.settle(short_epoch_ms)
        assert garbage.full_settles == 1 and alive() is not None  # frozen, as documented
        garbage.settle(short_epoch_ms)  # the fourth quarter pays for one
        assert garbage.full_settles == 2 and alive() is None
        new = _Cyclic()
        dropped = weakref.ref(new)
        del new
        garbage.settle(0.0)  # garbage made since the last freeze needs no full settle
        assert garbage.full_settles == 2 and dropped() is None
    assert gc.get_freeze_count() == 0


def test_the_loop_gives_each_settle_the_last_epochs_time_and_full_settles_follow_the_budget():
    """Ten short epochs through the real loop: each settle is given the previous epoch's wall time,
    and full settles happen exactly where the budget rule says (replayed here)."""
    from tfprof_m1.collection.garbage import FULL_SETTLE_SHARE

    settles = []
    original = GarbageSettler.settle

    def watched(self, since_ms=None):
        original(self, since_ms)
        settles.append((since_ms, self.full_settles, self.full_ms))

    GarbageSettler.settle = watched
    try:
        x = np.random.default_rng(0).normal(size=(32, 6)).astype("float32")
        dataset = tf.data.Dataset.from_tensor_slices((x, (x[:, 0] > 0).astype("int32"))).batch(16)
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(2)])
        steps = TrainSteps(
            model, keras.losses.SparseCategoricalCrossentropy(from_logits=True), keras.optimizers.Adam(),
            dataset.element_spec,
        )  # fmt: skip
        results = run_profiled_loop(
            steps, dataset, epochs=10, steps_per_epoch=2, profiler=PhaseProfiler(),
            sampling=Sampling(every=2, min_samples=1, reference_share=0.0),
        )  # fmt: skip
    finally:
        GarbageSettler.settle = original
    assert len(settles) == 10 and settles[0][0] is None and settles[0][1] == 1
    assert [since for since, _, _ in settles[1:]] == [result.timing.wall_ms for result in results[:-1]]
    credit, last_full_ms, fulls = 0.0, settles[0][2], 1
    for since_ms, after, full_ms in settles[1:]:
        credit += FULL_SETTLE_SHARE * since_ms
        if credit >= last_full_ms:
            fulls, credit, last_full_ms = fulls + 1, 0.0, full_ms
        assert after == fulls, settles
    # Two tiny steps take far less than 100 full collections of a TensorFlow process: most were quick.
    assert fulls < len(settles)
