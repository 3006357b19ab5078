"""The TensorFlow boundary in annotations, named once.

TensorFlow and Keras ship no type information, so a type checker sees their objects as ``Any``.
Annotations name them with these aliases (each ``Any``) to say what is meant, and everything on the
package's side of the boundary has a real type:

- ``TensorLike``: a ``tf.Tensor``, a ``tf.Variable``, a numpy array, or a nest of them (a batch's
  inputs or labels, a model's outputs, gradients, a step's token for a fence);
- ``TensorSpec``: a ``tf.TensorSpec`` or a nest of them (a dataset's ``element_spec``);
- ``Dataset``: a ``tf.data.Dataset`` or a strategy's distributed dataset;
- ``KerasModel``, ``Optimizer``, ``Loss``: a Keras model (or layer), optimizer, and loss function or
  ``keras.losses.Loss``;
- ``Strategy``: a ``tf.distribute.Strategy``;
- ``TfFunction``: a ``tf.function`` (a traced, compiled step);
- ``SummaryWriter``: a ``tf.summary`` file writer; ``Progbar``: a ``keras.utils.Progbar``;
- ``ProtoMessage``: a protobuf message or module TensorFlow generates (the trace's XSpace).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Dataset",
    "KerasModel",
    "Loss",
    "Optimizer",
    "Progbar",
    "ProtoMessage",
    "Strategy",
    "SummaryWriter",
    "TensorLike",
    "TensorSpec",
    "TfFunction",
]

TensorLike = Any
TensorSpec = Any
Dataset = Any
KerasModel = Any
Optimizer = Any
Loss = Any
Strategy = Any
TfFunction = Any
ProtoMessage = Any
SummaryWriter = Any
Progbar = Any
