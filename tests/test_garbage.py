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
