"""The registry builds exactly the article's architectures, and its FLOP count agrees with Keras' shapes."""

from __future__ import annotations

import pytest

from tfprof_m1.base.errors import UserError
from tfprof_m1.workloads.models import MODEL_NAMES, MODELS, build_model, get_spec

pytestmark = [pytest.mark.tf]


def test_registry_holds_the_three_article_models():
    assert MODEL_NAMES == ("mnist", "fashion_mnist", "cifar10")
    with pytest.raises(UserError, match="choose one of mnist, fashion_mnist, cifar10"):
        get_spec("imagenet")


def test_cifar10_architecture_matches_the_article():
    model = build_model(get_spec("cifar10"), seed=0)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == [
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "Flatten",
        "Dense",
        "Dense",
    ]
    shapes = [tuple(layer.output.shape[1:]) for layer in model.layers]
    assert shapes == [(30, 30, 32), (15, 15, 32), (13, 13, 64), (6, 6, 64), (4, 4, 64), (1024,), (64,), (10,)]
    assert model.layers[-1].activation.__name__ == "linear"  # logits: the loss is from_logits
    assert model.count_params() == 122_570


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_mnist_models_match_the_article(name):
    model = build_model(get_spec(name), seed=0)
    assert [type(layer).__name__ for layer in model.layers] == ["Flatten", "Dense", "Dense"]
    assert model.count_params() == 784 * 128 + 128 + 128 * 10 + 10


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_flop_count_agrees_with_the_built_keras_layers(name):
    """2 × multiply-adds computed from each Keras layer's real input and output shapes."""
    spec = MODELS[name]
    model = build_model(spec, seed=0)
    flops = 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Dense":
            flops += 2 * layer.input.shape[-1] * layer.units
        elif kind == "Conv2D":
            out_h, out_w, out_c = layer.output.shape[1:]
            kernel_h, kernel_w, in_c, _ = layer.kernel.shape
            flops += 2 * out_h * out_w * out_c * kernel_h * kernel_w * in_c
    assert spec.forward_flops_per_example == flops


def test_same_seed_same_weights():
    spec = get_spec("mnist")
    first, second, other = build_model(spec, seed=3), build_model(spec, seed=3), build_model(spec, seed=4)
    assert all((a == b).all() for a, b in zip(first.get_weights(), second.get_weights()))
    assert not (first.get_weights()[0] == other.get_weights()[0]).all()
