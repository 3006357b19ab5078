"""The Keras-fit headline: the EpochTimer callback on a real fit."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tfprof_m1.collection.fit import EpochTimer, run_fit
from tfprof_m1.workloads.datasets import synthetic
from tfprof_m1.workloads.models import build_model, get_spec
from tfprof_m1.workloads.pipeline import make_dataset

pytestmark = [pytest.mark.tf]


def test_epoch_timer_records_each_epoch_with_the_injected_clock():
    ticks = iter(np.arange(0.0, 100.0, 0.25))
    seen = []
    timer = EpochTimer(clock=lambda: float(next(ticks)), on_epoch=lambda i, ms, logs: seen.append((i, ms)))
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((8, 4), "float32"), np.zeros((8, 2), "float32"), epochs=3, verbose=0, callbacks=[timer])
    # each epoch reads the clock twice: begin and end, 0.25 s apart
    assert timer.epoch_ms == [250.0, 250.0, 250.0]
    assert seen == [(0, 250.0), (1, 250.0), (2, 250.0)]
    assert len(timer.losses) == 3 and timer.losses[0] is not None


def test_run_fit_trains_the_article_model_and_reports_every_epoch():
    spec = get_spec("mnist")
    dataset = make_dataset(synthetic(spec, seed=0, examples=128), batch_size=32, seed=0)
    model = build_model(spec, seed=0)
    before = model.get_weights()[0].copy()
    result = run_fit(model, dataset, epochs=2)
    assert len(result.epoch_ms) == 2 and min(result.epoch_ms) > 0
    assert result.jit_compile is False  # Keras uses XLA by default only when a GPU is present
    assert not np.allclose(before, model.get_weights()[0])
    assert all(0.0 <= acc <= 1.0 for acc in result.accuracies)


def test_fit_jit_compile_can_be_forced_to_remove_the_xla_confound():
    """--fit-jit-compile on/off: what Keras compiles with is what the report records."""
    spec = get_spec("mnist")
    dataset = make_dataset(synthetic(spec, seed=0, examples=64), batch_size=32, seed=0)
    forced = run_fit(build_model(spec, seed=0), dataset, epochs=1, jit_compile=True)
    assert forced.jit_compile is True and len(forced.epoch_ms) == 1
    assert run_fit(build_model(spec, seed=0), dataset, epochs=1, jit_compile=False).jit_compile is False
