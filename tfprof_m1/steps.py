"""Fused and split train steps built from any Keras model, loss and optimizer.

- The **fused** step is one ``tf.function``: forward, backward and ``apply_gradients``. It is the
  true throughput and the step the loop runs most of the time.
- The **split** step runs the same math in three parts with a fence after each: a forward
  ``tf.function`` under an eager ``tf.GradientTape`` (the tape keeps the function's intermediates,
  nothing is recomputed), ``tape.gradient`` (runs the backward function), and an apply
  ``tf.function``. Its three timed parts give the forward/backward/optimizer proportions.

Both steps return a *token*: one element of the last trainable variable read after the update, so
a fence on it waits for the whole step. Both accumulate loss and accuracy on the device, read once
per epoch, so no step forces a host read of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tfprof_m1.phases import BACKWARD, FORWARD, OPTIMIZER
from tfprof_m1.profiler import NullProfiler, PhaseProfiler

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import tensorflow as tf


class TrainSteps:
    """The fused and split train steps of one model.

    Args:
        model: a built Keras model.
        loss_fn: a Keras loss taking ``(labels, outputs)``, for example
            ``SparseCategoricalCrossentropy(from_logits=True)``.
        optimizer: a Keras optimizer; it is built here, before any step is traced.
        input_signature: the dataset's ``element_spec`` (images, labels); a batch dimension of
            None lets the last, smaller batch run without retracing.
    """

    def __init__(self, model: "keras.Model", loss_fn: Any, optimizer: Any, input_signature: Any | None = None) -> None:
        import tensorflow as tf

        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.variables = list(model.trainable_variables)
        optimizer.build(self.variables)
        # float32 totals: every device has kernels for them (exact counts up to 2**24 examples).
        self._loss_sum = tf.Variable(0.0, dtype=tf.float32, trainable=False)
        self._correct = tf.Variable(0.0, dtype=tf.float32, trainable=False)
        self._seen = tf.Variable(0.0, dtype=tf.float32, trainable=False)
        signature = None if input_signature is None else list(input_signature)
        self.fused = tf.function(self._fused, input_signature=signature)
        self.forward = tf.function(self._forward, input_signature=signature)
        self.apply = tf.function(self._apply)

    # -- the math, traced into tf.functions ------------------------------------------------------
    def _token(self) -> "tf.Tensor":
        import tensorflow as tf

        return tf.reshape(tf.convert_to_tensor(self.variables[-1]), [-1])[:1]

    def _record(self, labels: "tf.Tensor", logits: "tf.Tensor", loss: "tf.Tensor") -> None:
        import tensorflow as tf

        count = tf.cast(tf.shape(labels)[0], tf.float32)
        predicted = tf.argmax(logits, axis=-1, output_type=labels.dtype)
        self._loss_sum.assign_add(tf.cast(loss, tf.float32) * count)
        self._correct.assign_add(tf.reduce_sum(tf.cast(tf.equal(predicted, labels), tf.float32)))
        self._seen.assign_add(count)

    def _forward(self, images: "tf.Tensor", labels: "tf.Tensor") -> "tf.Tensor":
        logits = self.model(images, training=True)
        loss = self.loss_fn(labels, logits)
        self._record(labels, logits, loss)
        return loss

    def _apply(self, gradients: list) -> "tf.Tensor":
        self.optimizer.apply_gradients(zip(gradients, self.variables))
        return self._token()

    def _fused(self, images: "tf.Tensor", labels: "tf.Tensor") -> "tf.Tensor":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = self._forward(images, labels)
        gradients = tape.gradient(loss, self.variables)
        return self._apply(gradients)

    # -- the split step, timed phase by phase ---------------------------------------------------
    def split(self, images: Any, labels: Any, profiler: PhaseProfiler | None = None) -> Any:
        """One split step: forward, backward and optimizer, each timed and fenced.

        Returns:
            The token, as the fused step returns it.
        """
        import tensorflow as tf

        profiler = profiler or NullProfiler()
        with profiler.phase(FORWARD):
            with tf.GradientTape() as tape:
                loss = self.forward(images, labels)
        profiler.sync(loss)
        with profiler.phase(BACKWARD):
            gradients = tape.gradient(loss, self.variables)
        # Backprop reaches the first layer last; a variable the loss does not use has no gradient.
        profiler.sync(next((g for g in gradients if g is not None), loss))
        with profiler.phase(OPTIMIZER):
            token = self.apply(gradients)
        profiler.sync(token)
        return token

    def token(self) -> "tf.Tensor":
        """The token as of now (eager): what the steps return, for a fence or its cost probe."""
        return self._token()

    # -- per-epoch metrics ----------------------------------------------------------------------
    def reset_metrics(self) -> None:
        for total in (self._loss_sum, self._correct, self._seen):
            total.assign(0.0)

    def read_metrics(self) -> tuple[float | None, float | None]:
        """Mean loss and accuracy over the examples seen since the last reset (None if none)."""
        seen = float(self._seen.numpy())
        if seen == 0:
            return None, None
        return float(self._loss_sum.numpy()) / seen, float(self._correct.numpy()) / seen
