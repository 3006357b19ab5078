"""The workload the cost benchmarks share: a model's fused step on its synthetic data, and the fence.

Imported by the scripts beside it (``benchmarks/`` is on ``sys.path`` when one of them runs).
"""

from __future__ import annotations

from typing import Any


def fused_workload(model: str, steps: int, batch_size: int) -> tuple[Any, Any, Any, Any]:
    """(spec, dataset, train_steps, fence): the model built with seed 0, Adam, its synthetic data in
    the run's ``tf.data`` pipeline cut to ``steps`` batches of ``batch_size``, and the fence a run on
    this machine would pick."""
    import keras

    from tfprof_m1.collection.fence import detect_fence_kind, make_fence
    from tfprof_m1.collection.steps import TrainSteps
    from tfprof_m1.workloads.datasets import load_train_data
    from tfprof_m1.workloads.models import build_model, get_spec
    from tfprof_m1.workloads.pipeline import make_dataset

    spec = get_spec(model)
    data = load_train_data(spec, "synthetic", download=False)
    dataset = make_dataset(data, batch_size, seed=0, steps=steps)
    train_steps = TrainSteps(
        build_model(spec, seed=0),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        keras.optimizers.Adam(),
        dataset.element_spec,
    )
    fence = make_fence(detect_fence_kind(), lambda: train_steps.variables[-1])
    return spec, dataset, train_steps, fence


def add_workload_arguments(parser: Any, epochs: int = 40) -> None:
    """The workload's options: the model (mnist), ``--steps`` an epoch (60), ``--epochs`` measured,
    ``--batch-size`` (32)."""
    parser.add_argument("model", nargs="?", default="mnist")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--batch-size", type=int, default=32)
