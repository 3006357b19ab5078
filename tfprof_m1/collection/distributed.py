"""Train steps under tf.distribute, with the gradients' all-reduce as a phase of its own.

:class:`DistributedTrainSteps` runs the same fused, probe and split steps as
:class:`~tfprof_m1.collection.steps.TrainSteps`, each replica's share of a global batch through
``strategy.run``:

- **fused**: forward, backward and ``apply_gradients`` per replica; Keras' TensorFlow optimizer sums
  the gradients across replicas (``ReplicaContext.all_reduce``) inside ``apply_gradients``.
- **probe**: five prefix calls instead of four; the new one stops after the all-reduce of the
  gradients, so all-reduce = (forward+gradients+all-reduce) − (forward+gradients) and the optimizer
  is the full step less that (see tfprof_m1.analysis.estimate).
- **split**: forward (an eager tape around the per-replica forward call: ``strategy.run`` of a
  function is one function call the tape records), backward (``tape.gradient`` over every replica's
  copy of the variables: each replica's gradients), all-reduce (one call) and the optimizer applied
  to the summed gradients *without* Keras' own all-reduce (Keras 3 has no
  ``experimental_aggregate_gradients=False``; :func:`_applying_reduced_gradients` removes it while
  the apply function is traced). Each part is fenced on every replica's device.

Losses: each replica's loss is its mean over its examples divided by the replicas in sync, so the
summed gradients are the gradients of the global batch's mean loss, as on one device. A Keras loss
object already divides by the replicas under a strategy (Keras 3's ``scale_loss_for_distribution``);
a plain function's loss is divided here. The epoch's metrics are read from this process's replicas
only, with no collective (each worker reports its own share).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from tfprof_m1.base.phases import (
    ALL_REDUCE,
    BACKWARD,
    DISTRIBUTED_PROBE_VARIANTS,
    FORWARD,
    FORWARD_BACKWARD_ALL_REDUCE,
    OPTIMIZER,
)
from tfprof_m1.base.tf_types import Dataset, Loss, Optimizer, Strategy, TensorLike, TfFunction
from tfprof_m1.collection.profiler import NullProfiler, PhaseProfiler
from tfprof_m1.collection.steps import TrainSteps, tf_variable

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

__all__ = ["DistributedTrainSteps"]

#: Keras loss reductions that average over the replica's examples (and so divide by the replicas).
_AVERAGING_REDUCTIONS = ("sum_over_batch_size", "mean", "mean_with_sample_weight")


class DistributedTrainSteps(TrainSteps):
    """The fused, probe and split steps of a model built in ``strategy.scope()``.

    Args:
        model: a Keras model whose variables were created inside ``strategy.scope()``.
        loss_fn: as for TrainSteps: the mean loss over the examples it is given.
        optimizer: a Keras optimizer made inside ``strategy.scope()`` (Keras' TensorFlow optimizer
            keeps the strategy it was made under).
        strategy: a ``tf.distribute`` strategy (MirroredStrategy, MultiWorkerMirroredStrategy).
        jit_compile: compile each replica's function with XLA.
        clip_gradients, accuracy: as for TrainSteps.

    Feed it the batches of :meth:`distribute` (a dataset of *global* batches split across replicas).
    """

    def __init__(
        self,
        model: keras.Model,
        loss_fn: Loss,
        optimizer: Optimizer,
        strategy: tf.distribute.Strategy,
        *,
        jit_compile: bool = False,
        clip_gradients: Callable[[list], list] | None = None,
        accuracy: bool | None = None,
    ) -> None:
        import tensorflow as tf

        self.strategy = strategy
        self._all_sum: TfFunction | None = None
        if not model.trainable_variables or not isinstance(
            tf_variable(model.trainable_variables[0]), tf.distribute.DistributedValues
        ):
            raise ValueError(
                "the model's variables are not distributed: build the model inside strategy.scope()"
            )
        if getattr(optimizer, "_distribution_strategy", strategy) is not strategy:
            raise ValueError("the optimizer was made outside strategy.scope(): make it inside, as the model")
        with strategy.scope():
            super().__init__(
                model,
                loss_fn,
                optimizer,
                None,
                jit_compile=jit_compile,
                clip_gradients=clip_gradients,
                accuracy=accuracy,
            )
            self.probes[FORWARD_BACKWARD_ALL_REDUCE] = self._compile(self._forward_backward_all_reduce)
            self.all_reduce = tf.function(self._all_reduce_call)
            self.apply_reduced = tf.function(self._apply_reduced_call)
        self.probe_variants = DISTRIBUTED_PROBE_VARIANTS

    @property
    def replicas(self) -> int:
        """Replicas in sync, over every worker."""
        return int(self.strategy.num_replicas_in_sync)

    # -- what a strategy changes in TrainSteps ----------------------------------------------------
    def _new_total(self) -> tf.Variable:
        import tensorflow as tf

        return tf.Variable(
            0.0,
            dtype=tf.float32,
            trainable=False,
            synchronization=tf.VariableSynchronization.ON_READ,
            aggregation=tf.VariableAggregation.SUM,
        )

    def _compile(self, fn: Callable[..., TensorLike], with_signature: bool = True) -> TfFunction:
        import tensorflow as tf

        replica_fn = tf.function(fn, jit_compile=True) if self.jit_compile else fn
        # A partial, not a closure: tf.function counts traces per code object, and five closures of one
        # code object each traced once read as "frequent retracing" and print TensorFlow's warning.
        return tf.function(functools.partial(_on_every_replica, self.strategy, replica_fn))

    def _local(self, variable: TensorLike) -> list[TensorLike]:
        return list(self.strategy.experimental_local_results(tf_variable(variable)))

    def _mean_loss(self, loss: tf.Tensor) -> tf.Tensor:
        if getattr(self.loss_fn, "reduction", None) in _AVERAGING_REDUCTIONS and hasattr(
            self.loss_fn, "get_config"
        ):
            return loss * self.replicas  # undo Keras' division by the replicas, for the epoch's mean loss
        return loss

    def _gradient_loss(self, loss: tf.Tensor) -> tf.Tensor:
        return loss / self.replicas

    def distribute(self, dataset: Dataset) -> Dataset:
        """A dataset of global batches, split across the replicas (and sharded across workers by data).
        Anything but a ``tf.data.Dataset`` (a dataset distributed already) is returned as it is."""
        import tensorflow as tf

        if not isinstance(dataset, tf.data.Dataset):
            return dataset
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return self.strategy.experimental_distribute_dataset(dataset.with_options(options))

    def all_sum(self, values: Sequence[float]) -> list[float]:
        """``values`` summed over every replica in sync, across workers (one all-reduce in float32,
        a worker's values counted once per local replica): every worker gets the same sums, so a
        ratio of two of them is the same everywhere. Every worker must call it at the same point."""
        import tensorflow as tf

        if self._all_sum is None:
            self._all_sum = tf.function(functools.partial(_summed_on_every_replica, self.strategy))
        summed = self._all_sum(tf.constant([float(value) for value in values], tf.float32))
        return [float(value) for value in self.strategy.experimental_local_results(summed)[0].numpy()]

    def examples(self, inputs: TensorLike) -> int:
        """Examples this process's replicas hold in ``inputs`` (a batch of :meth:`distribute`)."""
        from tfprof_m1.collection.steps import batch_examples

        return sum(batch_examples(value) for value in self.strategy.experimental_local_results(inputs))

    def token(self) -> TensorLike:
        """One element of the last variable on every replica (a fence on it waits for each)."""
        import tensorflow as tf

        copies = self._local(self.variables[-1])
        return self.strategy.experimental_distribute_values_from_function(
            lambda context: tf.reshape(
                tf.convert_to_tensor(copies[context.replica_id_in_sync_group % len(copies)]), [-1]
            )[:1]
        )

    def written_variables(self) -> list:
        """Every local copy of every variable a step writes (the coverage fence reads them all)."""
        return [copy for variable in super().written_variables() for copy in self._local(variable)]

    # -- the all-reduce ---------------------------------------------------------------------------
    def _forward_backward_all_reduce(self, images: TensorLike, labels: TensorLike) -> tf.Tensor:
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = self._forward(images, labels, self._probe_totals)
        gradients = [gradient for gradient in tape.gradient(loss, self.variables) if gradient is not None]
        summed = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, gradients)
        return tf.reshape(tf.add_n([tf.reshape(gradient, [-1])[0] for gradient in summed]), [1])

    def _all_reduce_call(self, gradients: TensorLike) -> TensorLike:
        import tensorflow as tf

        def replica(gradients: list) -> list:
            return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, gradients)

        return self.strategy.run(replica, args=(gradients,))

    def _apply_reduced_call(self, gradients: TensorLike, present: list[int]) -> TensorLike:
        def replica(gradients: list) -> tf.Tensor:
            full: list = [None] * len(self.variables)
            for index, gradient in zip(present, gradients):
                full[index] = gradient
            return self._apply(full)

        with _applying_reduced_gradients(self.optimizer):
            return self.strategy.run(replica, args=(gradients,))

    # -- the split step ---------------------------------------------------------------------------
    def split(
        self, images: TensorLike, labels: TensorLike, profiler: PhaseProfiler | None = None
    ) -> TensorLike:
        """One split step: forward, backward, all-reduce and optimizer, each fenced on every replica.

        Returns:
            The token (one element of the last variable on every replica).
        """
        import tensorflow as tf

        profiler = profiler or NullProfiler()
        copies = [self._local(variable) for variable in self.variables]  # [variable][local replica]
        with profiler.phase(FORWARD):
            with tf.GradientTape() as tape:
                losses = self.forward(images, labels)
        profiler.sync(losses)
        with profiler.phase(BACKWARD):
            local_losses = list(self.strategy.experimental_local_results(losses))
            count = len(local_losses)
            flat = tape.gradient(local_losses, [copy for per_variable in copies for copy in per_variable])
            by_replica = [
                [flat[index * count + replica] for index in range(len(copies))] for replica in range(count)
            ]
            present = [index for index, gradient in enumerate(by_replica[0]) if gradient is not None]
            gradients = self.strategy.experimental_distribute_values_from_function(
                lambda context: [
                    by_replica[context.replica_id_in_sync_group % count][index] for index in present
                ]
            )
        profiler.sync(_one_per_replica(self.strategy, gradients))
        with profiler.phase(ALL_REDUCE):
            summed = self.all_reduce(gradients)
        profiler.sync(_one_per_replica(self.strategy, summed))
        with profiler.phase(OPTIMIZER):
            token = self.apply_reduced(summed, present)
        profiler.sync(token)
        return token


def _on_every_replica(
    strategy: Strategy, replica_fn: Callable[..., TensorLike], *args: TensorLike
) -> TensorLike:
    return strategy.run(replica_fn, args=args)


def _summed_on_every_replica(strategy: Strategy, values: TensorLike) -> TensorLike:
    import tensorflow as tf

    def replica(values: TensorLike) -> TensorLike:
        local = tf.identity(values)  # a copy on this replica's device: what the all-reduce sums
        return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, local)

    return strategy.run(replica, args=(values,))


def _one_per_replica(strategy: Strategy, gradients: TensorLike) -> TensorLike:
    """The first of each replica's gradients, as one distributed value: what a fence reads (the
    gradients of a replica come out of one call, so the first is ready when all are)."""
    if isinstance(gradients, (list, tuple)):  # a list of distributed values, as strategy.run returns it
        return gradients[0]
    local = strategy.experimental_local_results(gradients)  # each local replica's list of gradients
    return strategy.experimental_distribute_values_from_function(
        lambda context: local[context.replica_id_in_sync_group % len(local)][0]
    )


@contextlib.contextmanager
def _applying_reduced_gradients(optimizer: Optimizer) -> Iterator[None]:
    """While a function is traced: the optimizer applies the gradients it is given as they are,
    without summing them across replicas again.

    Keras 3's TensorFlow optimizer sums the gradients itself in ``_all_reduce_sum_gradients`` and has
    no switch to skip it (Keras 2's ``experimental_aggregate_gradients=False``). This replaces that
    method on the instance for the duration of the tracing; tests check that a split step and a
    fused step end with the same weights, which fails if Keras changes the method's name or role.
    """
    targets = [
        target for target in (optimizer, getattr(optimizer, "inner_optimizer", None)) if target is not None
    ]
    for target in targets:
        if not hasattr(target, "_all_reduce_sum_gradients"):
            raise RuntimeError(
                f"{type(target).__name__} has no _all_reduce_sum_gradients: this Keras version sums "
                "gradients elsewhere, so the split step cannot apply already-summed ones"
            )
    for target in targets:
        object.__setattr__(target, "_all_reduce_sum_gradients", lambda grads_and_vars: list(grads_and_vars))
    try:
        yield
    finally:
        for target in targets:
            object.__delattr__(target, "_all_reduce_sum_gradients")


if TYPE_CHECKING:  # pragma: no cover
    import keras
