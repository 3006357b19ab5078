"""The train steps and the profiled loop on real TensorFlow, at tiny sizes. No absolute times."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tests.formats import learnable_images, write_mnist_npz
from tfprof_m1.analysis.attribution import attribute_epochs
from tfprof_m1.collection.fence import HOST_READ, make_fence
from tfprof_m1.collection.loop import Sampling, run_profiled_loop, run_unprofiled_loop
from tfprof_m1.collection.profiler import PhaseProfiler
from tfprof_m1.collection.steps import TrainSteps
from tfprof_m1.workloads.datasets import load_train_data, synthetic
from tfprof_m1.workloads.models import build_model, get_spec
from tfprof_m1.workloads.pipeline import make_dataset, steps_per_epoch

pytestmark = [pytest.mark.tf]


def _steps(spec, dataset, seed=1):
    model = build_model(spec, seed=seed)
    return TrainSteps(
        model,
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        keras.optimizers.Adam(),
        dataset.element_spec,
    )


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_split_and_fused_steps_make_the_same_updates(name):
    spec = get_spec(name)
    dataset = make_dataset(synthetic(spec, seed=0, examples=96), batch_size=32, seed=0)
    fused, split = _steps(spec, dataset), _steps(spec, dataset)
    for before_a, before_b in zip(fused.variables, split.variables):
        np.testing.assert_array_equal(np.asarray(before_a), np.asarray(before_b))
    for images, labels in dataset:  # three steps: Adam's moments must agree too
        fused.fused(images, labels)
        split.split(images, labels)
    for after_a, after_b, initial in zip(
        fused.variables, split.variables, build_model(spec, seed=1).trainable_variables
    ):
        np.testing.assert_allclose(np.asarray(after_a), np.asarray(after_b), rtol=1e-5, atol=1e-6)
        assert not np.allclose(np.asarray(after_a), np.asarray(initial))  # the step did update
    np.testing.assert_allclose(fused.read_metrics(), split.read_metrics(), rtol=1e-5)


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_probe_steps_train_exactly_as_fused_steps_and_leave_the_metrics_alone(name):
    spec = get_spec(name)
    dataset = make_dataset(synthetic(spec, seed=0, examples=96), batch_size=32, seed=0)
    fused, probed = _steps(spec, dataset), _steps(spec, dataset)
    profiler = PhaseProfiler(fence=make_fence(HOST_READ, lambda: probed.variables[-1]))
    with profiler.epoch():
        for rotation, (images, labels) in enumerate(dataset):
            fused.fused(images, labels)
            with profiler.step("probe", examples=32):
                probed.probe(images, labels, profiler, rotation=rotation)
    for after_a, after_b in zip(fused.variables, probed.variables):
        np.testing.assert_array_equal(np.asarray(after_a), np.asarray(after_b))
    np.testing.assert_allclose(fused.read_metrics(), probed.read_metrics(), rtol=1e-6)
    for step in profiler.epochs[0].steps:
        assert set(step.samples_ms) == {"empty_call", "forward_only", "forward_backward", "full_step"}
        assert all(host >= 0 and wait >= 0 for host, wait in step.samples_ms.values())
        assert step.phases_ms["profiling"] > 0 and step.phases_ms["compute"] > 0


def test_sampling_places_probes_and_unprofiled_stretches_evenly_and_never_first():
    sampling = Sampling(every=50, min_samples=3)
    stretches = sampling.unprofiled_steps(1563)
    assert [len(s) for s in stretches] == [20] * 7  # 10 % of the steps in whole stretches of 20
    assert stretches[0].start > 1 and stretches[-1].stop <= 1563  # tiles from the third step on
    plan = sampling.plan(1563)
    assert all(plan[s.start - 1] == "probe" for s in stretches)  # each follows a probe step
    assert plan.count("unprofiled") == 140 and plan[0] == "block"  # fused, in a block
    assert plan.count("probe") == len(range(25, 1423, 50))  # 1 in 50 of the 1423 profiled steps
    assert plan.count("fused") == plan.count("probe")  # the step before each probe step
    assert plan[-1] == "block"  # the epoch's own closing fence closes the last block
    assert Sampling(every=50, min_samples=3).probe_steps(20) == frozenset({3, 9, 15})
    assert Sampling(every=50, min_samples=0).probe_steps(20) == frozenset({25} & set(range(20)))
    assert Sampling(every=1, min_samples=3).probe_steps(4) == frozenset({0, 1, 2, 3})
    assert Sampling().probe_steps(1) == frozenset({0})
    assert Sampling().probe_steps(0) == frozenset()
    assert Sampling().unprofiled_steps(9) == [] and Sampling(reference_share=0).unprofiled_steps(1000) == []
    assert [list(s) for s in Sampling().unprofiled_steps(20)] == [[8, 9, 10, 11, 12, 13]]  # a third
    with pytest.raises(ValueError):
        Sampling(every=0)
    with pytest.raises(ValueError):
        Sampling(reference_share=0.5)


@pytest.fixture(scope="module")
def learnable_run(tmp_path_factory):
    """Three epochs of the mnist model on a small learnable set read from a real mnist.npz."""
    directory = tmp_path_factory.mktemp("mnist")
    write_mnist_npz(directory, *learnable_images(640, (28, 28), seed=4))
    spec = get_spec("mnist")
    data = load_train_data(spec, "real", directory)
    dataset = make_dataset(data, batch_size=32, seed=0)
    train_steps = _steps(spec, dataset)
    profiler = PhaseProfiler(fence=make_fence(HOST_READ, lambda: train_steps.variables[-1]))
    steps = steps_per_epoch(data.examples, 32)
    results = run_profiled_loop(
        train_steps,
        dataset,
        epochs=3,
        steps_per_epoch=steps,
        profiler=profiler,
        sampling=Sampling(every=5, min_samples=2),
    )
    assert profiler.epochs[0].stretches and profiler.epochs[0].fence_idle_ms > 0
    return results, attribute_epochs([r.timing for r in results]), steps


def test_the_loop_learns(learnable_run):
    results, _, _ = learnable_run
    losses = [r.loss for r in results]
    accuracies = [r.accuracy for r in results]
    assert losses[2] < losses[0] * 0.7
    assert accuracies[2] > accuracies[0] and accuracies[2] > 0.5


def test_phases_are_non_negative_and_add_up_to_the_epoch(learnable_run):
    _, breakdowns, steps = learnable_run
    assert steps == 20
    for breakdown in breakdowns:
        # a stretch of 6 steps (a third of the epoch) in the first two epochs, after a probe step
        # (the middle one in the first epoch; the layout moves by epoch); the third epoch's reference
        # credit (10 % of 20 steps, after the second's debt of 4) pays for none
        stretch = 6 if breakdown.index < 2 else 0
        assert breakdown.steps == steps - stretch and breakdown.examples == 640
        assert [s.steps for s in breakdown.stretches] == ([stretch] if stretch else [])
        # fused steps in blocks, the step before each probe step fenced: 1 in 5 of the profiled steps
        probes = {2, 7, 12} if stretch else {2, 7, 12, 17}
        kinds = ["probe" if i in probes else "fused" if i + 1 in probes else "block" for i in range(20)]
        assert breakdown.step_kinds == kinds[: breakdown.steps]
        if stretch:
            # right after probe step 7 (phase 0.5: the middle of 3), then probe step 2 (phase 0.118)
            assert breakdown.stretches[0].before_step == (8, 3)[breakdown.index]
        assert len(breakdown.samples) == len(probes)
        assert ("unprofiled" in breakdown.totals_ms) == bool(stretch)
        assert set(breakdown.totals_ms) | {"unprofiled"} == {
            "input",
            "call",
            "forward",
            "backward",
            "optimizer",
            "sync",
            "profiling",
            "unprofiled",
            "other",
        }
        parts = set(breakdown.proportions)
        for name, total in breakdown.totals_ms.items():
            if name in parts:
                # a part's share is its probe samples' median, a negative one (noise around a small
                # part on a busy host) counted as 0: a part may read 0, never below (a run once read
                # backward 0 on this shared machine); compute as a whole is always there
                assert total >= 0, name
            elif name != "other":
                assert total > 0, name
            assert name in ("unprofiled", "other") or min(breakdown.step_ms[name]) >= 0
        assert sum(breakdown.totals_ms[name] for name in parts) > 0
        assert sum(breakdown.totals_ms.values()) == pytest.approx(breakdown.wall_ms)
        assert breakdown.totals_ms["other"] >= 0  # phases are disjoint slices of the epoch
        assert breakdown.proportions_source == "pooled"
        assert sum(breakdown.proportions.values()) == pytest.approx(1.0)
    # other is the loop's own bookkeeping around the phases (plus any scheduler hiccup on this
    # shared machine): small against the run, judged over all epochs so one hiccup cannot decide
    other = sum(b.totals_ms["other"] for b in breakdowns)
    assert other < 0.1 * sum(b.wall_ms for b in breakdowns)


def test_unprofiled_loop_trains_the_same_model():
    spec = get_spec("mnist")
    dataset = make_dataset(synthetic(spec, seed=0, examples=64), batch_size=32, seed=0)
    train_steps = _steps(spec, dataset)
    before = np.asarray(train_steps.variables[0]).copy()
    run_unprofiled_loop(train_steps, dataset, make_fence(HOST_READ, lambda: train_steps.variables[-1]))
    assert not np.allclose(before, np.asarray(train_steps.variables[0]))
    assert train_steps.read_metrics()[0] is not None


def test_pipeline_scales_batches_and_reshuffles_each_epoch():
    spec = get_spec("mnist")
    data = synthetic(spec, seed=0, examples=100)
    dataset = make_dataset(data, batch_size=32, seed=7)
    first = [labels.numpy() for _, labels in dataset]
    second = [labels.numpy() for _, labels in dataset]
    assert [len(b) for b in first] == [32, 32, 32, 4]  # the last batch is kept, as in fit
    assert sorted(np.concatenate(first)) == sorted(data.labels.astype(int))
    assert not all((a == b).all() for a, b in zip(first, second))
    images, _ = next(iter(dataset))
    assert (
        images.dtype.name == "float32"
        and 0.0 <= float(images.numpy().min())
        and float(images.numpy().max()) <= 1.0
    )
    assert len(list(make_dataset(data, batch_size=32, seed=7, steps=2))) == 2


def test_autotuned_pipeline_yields_the_same_batches():
    data = synthetic(get_spec("mnist"), seed=0, examples=100)
    fixed = [labels.numpy().tolist() for _, labels in make_dataset(data, 32, seed=3)]
    tuned = [labels.numpy().tolist() for _, labels in make_dataset(data, 32, seed=3, autotune=True)]
    assert fixed == tuned  # same seed, same order: only the parallelism differs
