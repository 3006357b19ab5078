"""The three models of the 2021 article, from one registry.

Each model is described as data (a list of layers), so the same description builds the Keras model
and counts its FLOPs; ``--help``, error messages and docs read the registry. Importing this module
does not import TensorFlow; :func:`build_model` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tfprof_m1.base.errors import UserError
from tfprof_m1.base.tf_types import KerasModel

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = ["MODELS", "MODEL_NAMES", "ModelSpec", "build_model", "get_spec"]


@dataclass(frozen=True)
class Layer:
    """One layer: ``kind`` is ``conv2d``, ``maxpool``, ``flatten`` or ``dense``.

    ``units`` is the filter count for conv2d and the width for dense; ``size`` is the kernel or pool
    size. Convolutions are ``valid`` with stride 1, pools have stride equal to their size (Keras'
    defaults, as the article used them).
    """

    kind: str
    units: int = 0
    size: int = 0
    activation: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its dataset, input shape and layers."""

    name: str
    dataset: str
    input_shape: tuple[int, ...]
    classes: int
    train_examples: int
    layers: tuple[Layer, ...]
    summary: str

    @property
    def forward_flops_per_example(self) -> int:
        """Forward FLOPs of one example: 2 × multiply-adds of Dense and Conv2D layers.

        Biases, activations and pooling are left out: they are a fraction of a percent here.
        A training step costs forward plus :attr:`backward_flops_per_example`.
        """
        return count_forward_flops(self.input_shape, self.layers)

    @property
    def backward_flops_per_example(self) -> int:
        """Backward FLOPs of one example (see :func:`count_backward_flops`)."""
        return count_backward_flops(self.input_shape, self.layers)


_MNIST_LAYERS = (
    Layer("flatten"),
    Layer("dense", units=128, activation="relu"),
    Layer("dense", units=10),
)

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="mnist",
            dataset="MNIST",
            input_shape=(28, 28),
            classes=10,
            train_examples=60_000,
            layers=_MNIST_LAYERS,
            summary="MNIST digits, Flatten-Dense(128)-Dense(10)",
        ),
        ModelSpec(
            name="fashion_mnist",
            dataset="Fashion-MNIST",
            input_shape=(28, 28),
            classes=10,
            train_examples=60_000,
            layers=_MNIST_LAYERS,
            summary="Fashion-MNIST clothing, same model as mnist",
        ),
        ModelSpec(
            name="cifar10",
            dataset="CIFAR-10",
            input_shape=(32, 32, 3),
            classes=10,
            train_examples=50_000,
            layers=(
                Layer("conv2d", units=32, size=3, activation="relu"),
                Layer("maxpool", size=2),
                Layer("conv2d", units=64, size=3, activation="relu"),
                Layer("maxpool", size=2),
                Layer("conv2d", units=64, size=3, activation="relu"),
                Layer("flatten"),
                Layer("dense", units=64, activation="relu"),
                Layer("dense", units=10),
            ),
            summary="CIFAR-10 images, 3×Conv2D + 2×MaxPool + Dense(64)-Dense(10)",
        ),
    )
}

MODEL_NAMES: tuple[str, ...] = tuple(MODELS)


def get_spec(name: str) -> ModelSpec:
    """The registered model ``name``.

    Raises:
        UserError: when no model has that name (the message lists the known ones).
    """
    try:
        return MODELS[name]
    except KeyError:
        raise UserError(f"unknown model {name!r}: choose one of {', '.join(MODEL_NAMES)}") from None


def count_backward_flops(input_shape: tuple[int, ...], layers: tuple[Layer, ...]) -> int:
    """FLOPs of one example's backward pass through the Dense and Conv2D layers: each layer's weight
    gradient (as many FLOPs as its forward) and, for every layer but the first (whose input is data,
    not a variable), its input gradient: for Dense as many as its forward, for a VALID Conv2D a full
    convolution over the layer's *input* size, larger than the forward by H_in·W_in / (H_out·W_out).
    About 2× forward in general, 1.01× for the MNIST model, whose first Dense layer holds nearly all
    its FLOPs (TensorFlow's graph profiler agrees: benchmarks/flops_check.py)."""
    return sum(
        weight + (gradient if position else 0)
        for position, (weight, gradient) in enumerate(_layer_flops(input_shape, layers))
    )


def count_forward_flops(input_shape: tuple[int, ...], layers: tuple[Layer, ...]) -> int:
    """FLOPs of one forward example, propagating the shape through ``layers``."""
    return sum(forward for forward, _ in _layer_flops(input_shape, layers))


def _layer_flops(input_shape: tuple[int, ...], layers: tuple[Layer, ...]) -> list[tuple[int, int]]:
    """(forward FLOPs, input-gradient FLOPs) of each Dense and Conv2D layer, in order, for one example."""
    shape = tuple(input_shape) if len(input_shape) == 3 else (*input_shape, 1)
    flops: list[tuple[int, int]] = []
    for layer in layers:
        if layer.kind == "conv2d":
            height, width, channels = shape
            out_h, out_w = height - layer.size + 1, width - layer.size + 1
            per_position = 2 * layer.units * layer.size * layer.size * channels
            flops.append((out_h * out_w * per_position, height * width * per_position))
            shape = (out_h, out_w, layer.units)
        elif layer.kind == "maxpool":
            height, width, channels = shape
            shape = (height // layer.size, width // layer.size, channels)
        elif layer.kind == "flatten":
            size = 1
            for dim in shape:
                size *= dim
            shape = (size,)
        elif layer.kind == "dense":
            flops.append((2 * shape[-1] * layer.units, 2 * shape[-1] * layer.units))
            shape = (layer.units,)
        else:
            raise ValueError(f"unknown layer kind {layer.kind!r}")
    return flops


def _keras_layer(layer: Layer) -> KerasModel:
    import keras

    if layer.kind == "conv2d":
        return keras.layers.Conv2D(layer.units, layer.size, activation=layer.activation)
    if layer.kind == "maxpool":
        return keras.layers.MaxPooling2D(layer.size)
    if layer.kind == "flatten":
        return keras.layers.Flatten()
    if layer.kind == "dense":
        return keras.layers.Dense(layer.units, activation=layer.activation)
    raise ValueError(f"unknown layer kind {layer.kind!r}")


def build_model(spec: ModelSpec, seed: int | None = None) -> keras.Sequential:
    """A fresh Keras ``Sequential`` for ``spec``; the same ``seed`` gives the same initial weights."""
    import keras

    if seed is not None:
        keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [keras.Input(shape=spec.input_shape), *(_keras_layer(layer) for layer in spec.layers)],
        name=spec.name,
    )
