"""Fused, probe and split train steps built from any Keras model, loss and optimizer.

- The **fused** step is one ``tf.function``: forward, backward and ``apply_gradients``. It is the
  true throughput and the step the loop runs most of the time.
- The **probe** step is what the built-in loop runs on sampled steps: four calls of the same
  signature, each fenced and timed from dispatch to the end of its device work: an empty call, the
  forward pass alone, forward and gradients, and the real fused step. Their differences are the call
  cost, forward, backward and optimizer (subtractive prefix calls). Each variant is one call, so the
  per-call host cost appears once in each and cancels in the differences; the order rotates from
  sample to sample so no variant always runs first on a cold cache. Only the fused call trains:
  what the other calls write by running the model in training mode (BatchNorm's moving statistics,
  Dropout's and ``keras.random``'s seed-generator state, metrics a layer keeps) is put back after
  each, outside its timing, so a profiled model trains exactly as a plain one.
- The **split** step runs the same math in three parts with a fence after each: a forward
  ``tf.function`` under an eager ``tf.GradientTape`` (the tape keeps the function's intermediates,
  nothing is recomputed), ``tape.gradient`` (runs the backward function), and an apply
  ``tf.function``. It is a real training step for research loops that want to time the parts of
  every step; each part pays its own call cost, and eager ``tape.gradient`` adds more, which is why
  the built-in loop samples with probes instead.

Both steps return a *token*: one element of the last trainable variable read after the update, so
a fence on it waits for the whole step. Both accumulate loss and accuracy on the device, read once
per epoch, so no step forces a host read of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tfprof_m1.base.phases import (
    BACKWARD,
    COMPUTE,
    EMPTY_CALL,
    FORWARD,
    FORWARD_BACKWARD,
    FORWARD_ONLY,
    FULL_STEP,
    OPTIMIZER,
    PROBE_VARIANTS,
    PROFILING,
)
from tfprof_m1.base.tf_types import Dataset, Loss, Optimizer, TensorLike, TensorSpec, TfFunction
from tfprof_m1.collection.model_facts import layer_summary, parameter_count
from tfprof_m1.collection.profiler import NullProfiler, PhaseProfiler

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import tensorflow as tf

__all__ = ["StepFacts", "TrainSteps", "batch_examples", "tf_variable"]


SPARSE, CATEGORICAL = "sparse", "categorical"


@dataclass
class StepFacts:
    """What the steps trained with, as they traced it (for the report's fingerprint)."""

    #: The model's own dtype policy (``float32``, ``mixed_float16``...), as its layers were built.
    mixed_precision: str | None = None
    #: Whether the steps were compiled with XLA.
    jit_compile: bool | None = None
    #: dtype of the first input tensor of the batches the steps were traced for.
    input_dtype: str | None = None
    #: How batches were made, as far as the loop can tell (``tf.data.Dataset``, a Python type name).
    input_path: str | None = None
    #: Batches per call of the training step (1 for these steps; ``fit`` may run several).
    steps_per_execution: int = 1
    #: The model's weights, counted, and its layer kinds with counts (what tells models apart).
    parameters: int | None = None
    layers: str | None = None


def accuracy_form(
    labels: TensorLike, outputs: TensorLike, asked: bool = False, categorical_loss: bool = False
) -> tuple[str | None, str | None]:
    """Which of Keras' accuracies fits labels and outputs of these static shapes and dtypes:
    (``"sparse"`` | ``"categorical"`` | None, why not when None).

    Sparse (``SparseCategoricalAccuracy``): integer labels of shape ``(batch,)`` or ``(batch, 1)``
    against outputs ``(batch, classes)`` (float labels too when ``asked``, as Keras takes them).
    Categorical (``CategoricalAccuracy``): labels of the outputs' shape, when ``asked`` or the loss
    is a categorical cross-entropy (with another loss such labels are regression targets). Several
    outputs, or outputs without a class axis, have none.
    """
    if isinstance(labels, (list, tuple, dict)) or isinstance(outputs, (list, tuple, dict)):
        return None, "accuracy not measured: the model has several outputs or label tensors"
    out_rank, label_rank = outputs.shape.rank, labels.shape.rank
    classes = outputs.shape[-1] if out_rank else None
    if out_rank is None or label_rank is None or out_rank < 2 or (classes or 0) < 2:
        return None, f"accuracy not measured: outputs of shape {outputs.shape} have no class axis"
    if label_rank == out_rank and labels.shape[-1] == classes:
        if asked or categorical_loss:
            return CATEGORICAL, None
        return None, (
            f"accuracy not measured: labels of the outputs' shape {outputs.shape} with a loss that is not "
            "a categorical cross-entropy (regression targets?); pass accuracy=True for CategoricalAccuracy"
        )
    sparse_shape = label_rank == out_rank - 1 or (label_rank == out_rank and labels.shape[-1] == 1)
    if sparse_shape and (labels.dtype.is_integer or (asked and labels.dtype.is_floating)):
        return SPARSE, None
    return None, (
        f"accuracy not measured: labels {labels.dtype.name} of shape {labels.shape} are neither class "
        f"indices (integers, (batch,) or (batch, 1)) nor one-hot against outputs of shape {outputs.shape}"
    )


def keras_accuracy(form: str, labels: tf.Tensor, outputs: tf.Tensor) -> tf.Tensor:
    """Per example, 1.0 where the prediction is right, as Keras' ``sparse_categorical_accuracy`` /
    ``categorical_accuracy`` decide it: the argmax of the outputs against the label index (a
    trailing label axis of 1 squeezed), both compared as floats, as Keras compares them; ties go to
    the first class, as ``argmax`` gives them."""
    import tensorflow as tf

    predicted = tf.cast(tf.argmax(outputs, axis=-1), tf.float32)
    if form == CATEGORICAL:
        truth = tf.argmax(labels, axis=-1)
    else:
        truth = tf.squeeze(labels, axis=-1) if labels.shape.rank == outputs.shape.rank else labels
    return tf.cast(tf.equal(predicted, tf.cast(truth, tf.float32)), tf.float32)


def _is_categorical(loss_fn: Loss) -> bool:
    """Whether ``loss_fn`` is Keras' (non-sparse) categorical cross-entropy, class or function."""
    name = getattr(loss_fn, "name", None) or getattr(loss_fn, "__name__", "") or type(loss_fn).__name__
    name = str(name).lower()
    return "categorical" in name and "sparse" not in name


def tf_variable(variable: TensorLike) -> TensorLike:
    """The tf.Variable (a distributed one under a strategy) behind a Keras variable."""
    import keras

    return variable.value if isinstance(variable, keras.Variable) else variable


def _global_seed_state() -> list:
    """The state variable of Keras' global seed generator, if one was made (none is made here)."""
    try:
        from keras.src.backend.common import global_state
    except ImportError:  # another Keras layout: only the model's own generators are kept
        return []
    generator = global_state.get_global_attribute("global_seed_generator")
    state = getattr(generator, "state", None)
    return [] if state is None else [state]


def batch_examples(inputs: TensorLike) -> int:
    """Examples in a batch: the leading dimension of the first tensor (inputs may be a tuple, list or
    dict of tensors, as for multi-input models)."""
    while isinstance(inputs, (tuple, list, dict)) and len(inputs):
        inputs = next(iter(inputs.values())) if isinstance(inputs, dict) else inputs[0]
    shape = tuple(getattr(inputs, "shape", ()) or ())
    return int(shape[0]) if shape and shape[0] is not None else 1


class TrainSteps:
    """The fused, probe and split train steps of one model.

    Args:
        model: a built Keras model (any outputs: one head or several).
        loss_fn: any callable ``loss_fn(labels, outputs) -> scalar loss``: a Keras loss such as
            ``SparseCategoricalCrossentropy(from_logits=True)`` or ``MeanSquaredError()``, or your own
            function over structures for multi-output models.
        optimizer: a Keras optimizer; it is built here, before any step is traced. A
            ``LossScaleOptimizer`` (mixed precision) works: the loss is scaled with
            ``optimizer.scale_loss`` before the gradients, as Keras' own ``fit`` does, and
            ``apply_gradients`` unscales them.
        input_signature: the dataset's ``element_spec`` (inputs, labels); a batch dimension of
            None lets the last, smaller batch run without retracing.
        jit_compile: compile the steps with XLA (``tf.function(jit_compile=True)``). The probe
            calls are compiled alike, so the parts stay comparable.
        clip_gradients: ``fn(gradients) -> gradients`` applied before the optimizer (for example
            ``lambda g: tf.clip_by_global_norm(g, 1.0)[0]``); its time counts as optimizer.
        accuracy: track accuracy as Keras' metrics define it: ``SparseCategoricalAccuracy`` for
            integer class labels of shape ``(batch,)`` or ``(batch, 1)``, of any integer dtype (as
            ``keras.datasets`` gives them), ``CategoricalAccuracy`` for one-hot (or soft) labels
            of the outputs' shape. None: tracked when the labels have one of those forms and the
            outputs a class axis; regression and multi-output models track the loss only, and
            :attr:`accuracy_note` says why. True with labels of another form raises ValueError
            when the step is traced.
    """

    #: The probe calls of a sampled step, in order (a strategy adds the all-reduce variant).
    probe_variants: tuple[str, ...] = PROBE_VARIANTS

    def __init__(
        self,
        model: keras.Model,
        loss_fn: Loss,
        optimizer: Optimizer,
        input_signature: TensorSpec | None = None,
        *,
        jit_compile: bool = False,
        clip_gradients: Callable[[list], list] | None = None,
        accuracy: bool | None = None,
    ) -> None:
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.jit_compile = jit_compile
        self.clip_gradients = clip_gradients
        self.accuracy = accuracy
        self._accuracy_tracked = False
        #: Why accuracy is not tracked (None when it is, or before the first step traced).
        self.accuracy_note: str | None = None
        self._probe_state: list | None = None
        self._state_functions: tuple[TfFunction, TfFunction] | None = None
        self._input_dtype: str | None = None
        self.variables = list(model.trainable_variables)
        optimizer.build(self.variables)
        # float32 totals: every device has kernels for them (exact counts up to 2**24 examples).
        self._loss_sum, self._correct, self._seen = self._new_total(), self._new_total(), self._new_total()
        # Probe calls record their metrics here, so they do the same work and leave the epoch's alone.
        self._probe_totals = [self._new_total() for _ in range(3)]
        self._signature = None if input_signature is None else list(input_signature)

        self.fused = self._compile(self._fused)
        self.forward = self._compile(self._forward_scaled)
        self.apply = self._compile(self._apply, with_signature=False)
        self.probes = {
            EMPTY_CALL: self._compile(self._empty_call),
            FORWARD_ONLY: self._compile(self._forward_only),
            FORWARD_BACKWARD: self._compile(self._forward_backward),
            FULL_STEP: self.fused,
        }

    # -- what a strategy changes (tfprof_m1.collection.distributed overrides these)
    # ---------------------------
    def _new_total(self) -> tf.Variable:
        import tensorflow as tf

        return tf.Variable(0.0, dtype=tf.float32, trainable=False)

    def _compile(self, fn: Callable[..., TensorLike], with_signature: bool = True) -> TfFunction:
        import tensorflow as tf

        return tf.function(
            fn,
            input_signature=self._signature if with_signature else None,
            jit_compile=self.jit_compile or None,
        )

    def _local(self, variable: TensorLike) -> list[TensorLike]:
        """The copies of ``variable`` this process holds (one; one per local replica under a strategy)."""
        return [variable]

    def _gradient_loss(self, loss: tf.Tensor) -> tf.Tensor:
        """The loss the gradients are taken of, from the mean loss of the step's examples."""
        return loss

    def distribute(self, dataset: Dataset) -> Dataset:
        """The dataset as the steps take it (unchanged here; split across replicas under a strategy)."""
        return dataset

    def examples(self, inputs: TensorLike) -> int:
        """Examples in a batch's inputs (this process's share under a strategy)."""
        return batch_examples(inputs)

    def all_sum(self, values: Sequence[float]) -> list[float]:
        """``values`` summed over every replica of the run, the same on every worker; each worker
        calls it at the same point. One process, one replica: the values as they are."""
        return [float(value) for value in values]

    # -- the math, traced into tf.functions ------------------------------------------------------
    def _token(self) -> tf.Tensor:
        import tensorflow as tf

        return tf.reshape(tf.convert_to_tensor(self.variables[-1]), [-1])[:1]

    def _record(
        self, labels: TensorLike, outputs: TensorLike, loss: tf.Tensor, totals: list | None = None
    ) -> None:
        import tensorflow as tf

        loss_sum, correct, seen = totals or (self._loss_sum, self._correct, self._seen)
        count = tf.cast(tf.shape(tf.nest.flatten(labels)[0])[0], tf.float32)
        loss_sum.assign_add(tf.cast(loss, tf.float32) * count)
        form, why_not = accuracy_form(  # static: decided while tracing
            labels, outputs, asked=bool(self.accuracy), categorical_loss=_is_categorical(self.loss_fn)
        )
        if self.accuracy and form is None:
            raise ValueError(f"accuracy=True: {why_not}")
        if self.accuracy is False:
            form, why_not = None, "accuracy=False"
        self._accuracy_tracked, self.accuracy_note = form is not None, why_not
        if form is not None:
            correct.assign_add(tf.reduce_sum(keras_accuracy(form, labels, outputs)))
        seen.assign_add(count)

    def _forward(self, images: TensorLike, labels: TensorLike, totals: list | None = None) -> tf.Tensor:
        """The forward pass and loss, metrics recorded; returns the loss the gradients are taken of
        (scaled by a LossScaleOptimizer's current scale, as Keras' own train step does)."""
        import tensorflow as tf

        self._input_dtype = tf.nest.flatten(images)[0].dtype.name  # static: set while tracing
        outputs = self.model(images, training=True)
        loss = self._mean_loss(self.loss_fn(labels, outputs))
        self._record(labels, outputs, loss, totals)
        loss = self._gradient_loss(loss)
        return self.optimizer.scale_loss(loss) if hasattr(self.optimizer, "scale_loss") else loss

    def _mean_loss(self, loss: tf.Tensor) -> tf.Tensor:
        """The mean loss over the examples in this call, from what ``loss_fn`` returned."""
        return loss

    def _forward_scaled(self, images: TensorLike, labels: TensorLike) -> tf.Tensor:
        return self._forward(images, labels)

    def _empty_call(self, images: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        import tensorflow as tf

        return tf.zeros([1])

    def _forward_only(self, images: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        import tensorflow as tf

        return tf.reshape(self._forward(images, labels, self._probe_totals), [1])

    def _forward_backward(self, images: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = self._forward(images, labels, self._probe_totals)
        gradients = tape.gradient(loss, self.variables)
        # One element of *every* gradient is returned: a gradient left unused would be pruned from
        # the graph, and the backward time with it (measured: cifar10's optimizer share 2 % -> 22 %).
        # Summed to one element, so the fence reads it as it reads a step's token (no eager op of its own).
        return tf.reshape(
            tf.add_n([tf.reshape(gradient, [-1])[0] for gradient in gradients if gradient is not None]), [1]
        )

    def _apply(self, gradients: list) -> tf.Tensor:
        if self.clip_gradients is not None:
            gradients = list(self.clip_gradients(list(gradients)))
        self.optimizer.apply_gradients(zip(gradients, self.variables))
        return self._token()

    def _fused(self, images: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = self._forward(images, labels)
        gradients = tape.gradient(loss, self.variables)
        return self._apply(gradients)

    # -- the split step, timed phase by phase ---------------------------------------------------
    def split(
        self, images: TensorLike, labels: TensorLike, profiler: PhaseProfiler | None = None
    ) -> TensorLike:
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

    def probe(
        self, images: TensorLike, labels: TensorLike, profiler: PhaseProfiler, rotation: int = 0
    ) -> TensorLike:
        """One sampled step: the four probe calls (see the module docstring), each fenced.

        The probes' time goes to ``profiling``; the real fused step's to ``compute``; each call is
        recorded in ``StepTiming.samples_ms`` under its variant name. A second, independent fence
        then checks that the first left nothing queued.

        Args:
            rotation: start the variants this many places later (the loop passes the sample number).

        Returns:
            The fused step's token.
        """
        token = None
        variants = self.probe_variants
        start = rotation % len(variants)
        for variant in variants[start:] + variants[:start]:
            saved = None
            if variant not in (FULL_STEP, EMPTY_CALL) and self.probe_state():
                with profiler.phase(PROFILING):
                    saved = self.save_probe_state()
            output = profiler.call(
                COMPUTE if variant == FULL_STEP else PROFILING,
                self.probes[variant],
                images,
                labels,
                sample=variant,
            )
            if saved is not None:
                with profiler.phase(PROFILING):
                    self.restore_probe_state(saved)
            if variant == FULL_STEP:
                token = output
        profiler.check_fence()
        return token

    def facts(self) -> StepFacts:
        """What these steps train with: the model's dtype policy, XLA, the input dtype traced, the
        model's parameter count and layers."""
        policy = getattr(getattr(self.model, "dtype_policy", None), "name", None)
        return StepFacts(
            mixed_precision=policy,
            jit_compile=bool(self.jit_compile),
            input_dtype=self._input_dtype,
            parameters=parameter_count(self.model),
            layers=layer_summary(self.model),
        )

    def probe_state(self) -> list:
        """The variables a probe call may write though only the fused call should (each local copy
        under a strategy): the model's non-trainable variables (BatchNorm's moving statistics, the
        state of Dropout's and other layers' seed generators), the variables of metrics its layers
        keep, and Keras' global seed generator (``keras.random`` calls without a generator of their
        own). Trainable weights and the optimizer's variables are written by ``apply_gradients``
        only, which no probe call but the fused one runs.

        TensorFlow's stateful random ops (``tf.random.uniform`` without a seed, inside the model)
        keep their state in the kernel, where no variable can put it back: use Keras' layers or
        ``keras.random`` with a ``SeedGenerator`` for randomness a profiled model should repeat.
        """
        if self._probe_state is None:
            candidates = list(self.model.non_trainable_variables)
            candidates += list(getattr(self.model, "metrics_variables", []))
            candidates += _global_seed_state()
            trainable = {id(variable) for variable in self.variables}
            seen: set[int] = set()
            state = []
            for variable in candidates:
                if id(variable) in trainable or id(variable) in seen:
                    continue
                seen.add(id(variable))
                state += self._local(tf_variable(variable))
            self._probe_state = state
        return self._probe_state

    def save_probe_state(self) -> list:
        """The values of :meth:`probe_state` now (device copies in one call, no host read)."""
        state = self.probe_state()
        if not state:
            return []
        if self._state_functions is None:
            import tensorflow as tf

            def read() -> list:
                return [tf.identity(copy) for copy in state]

            def write(values: list) -> int:
                for copy, value in zip(state, values):
                    copy.assign(value)
                return 0

            self._state_functions = (tf.function(read), tf.function(write))
        return list(self._state_functions[0]())

    def restore_probe_state(self, saved: list) -> None:
        """Put back what :meth:`save_probe_state` saved (one call)."""
        if saved and self._state_functions is not None:
            self._state_functions[1](saved)

    def written_variables(self) -> list:
        """Every variable a fused step writes (weights, optimizer slots, metric totals): what the
        coverage fence reads."""
        return [*self.variables, *self.optimizer.variables, self._loss_sum, self._correct, self._seen]

    def token(self) -> tf.Tensor:
        """The token as of now (eager): what the steps return, for a fence or its cost probe."""
        return self._token()

    # -- per-epoch metrics ----------------------------------------------------------------------
    def reset_metrics(self) -> None:
        """Zero the epoch's loss and accuracy sums (every local copy under a strategy)."""
        for total in (self._loss_sum, self._correct, self._seen):
            for copy in self._local(total):
                copy.assign(0.0)

    def _read(self, total: tf.Variable) -> float:
        """A metric total summed over this process's copies (no collective: each worker reads its own)."""
        return float(sum(np.sum(copy.numpy()) for copy in self._local(total)))

    def loss_is_finite(self) -> bool:
        """Whether the epoch's running loss sum is still finite (once a step's loss is NaN or
        infinite, the sum stays so): a cheap per-step check where the step was fenced anyway."""
        return bool(np.isfinite(self._read(self._loss_sum)))

    def read_metrics(self) -> tuple[float | None, float | None]:
        """Mean loss and accuracy over the examples seen since the last reset (None if none);
        under a multi-worker strategy, over this worker's examples."""
        seen = self._read(self._seen)
        if seen == 0:
            return None, None
        accuracy = self._read(self._correct) / seen if self._accuracy_tracked else None
        return self._read(self._loss_sum) / seen, accuracy
