"""Which batches each epoch reads, by Keras' own convention for ``steps_per_epoch``.

Keras' ``fit`` (``keras.src.trainers.epoch_iterator.EpochIterator``) reads a dataset like this, and
so does the profiled loop, so research code written for ``fit`` (an infinite ``dataset.repeat()``
with ``steps_per_epoch``) trains the same batches under the profiler:

- ``steps_per_epoch`` None: each epoch iterates the dataset afresh, to its end.
- ``steps_per_epoch`` given: one iterator is kept across epochs and each epoch takes the next
  ``steps_per_epoch`` batches from it. When the dataset's length is known, the iterator starts
  afresh once that many batches were read; if the data run out inside an epoch, the epoch ends
  there with Keras' own warning ("Your input ran out of data; interrupting training...") and the
  next epoch starts a new iterator. A length not known beforehand is learnt when the data first
  run out, as Keras learns it; where that happens exactly at an epoch's start (the previous epoch
  read the last batch), the epoch starts a new iterator instead of running empty, as Keras would.

Collection only: no timing here (the profiler times every ``next`` as input, the iterator's
creation included).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Sized
from typing import cast

from tfprof_m1.base.tf_types import TensorLike

__all__ = ["RAN_OUT_OF_DATA", "EpochBatches", "known_length"]

#: Keras' own words when the data run out inside an epoch (``EpochIterator._interrupted_warning``).
RAN_OUT_OF_DATA = (
    "Your input ran out of data; interrupting training. Make sure that your dataset or generator can "
    "generate at least `steps_per_epoch * epochs` batches. You may need to use the `.repeat()` "
    "function when building your dataset."
)


def known_length(dataset: Iterable[TensorLike]) -> int | None:
    """Batches in ``dataset`` when it says (``tf.data`` cardinality, or ``len()``); None when unknown
    or infinite (``repeat()``, a generator, a ``filter``)."""
    if hasattr(dataset, "cardinality"):
        try:
            cardinality = dataset.cardinality
            value = int(cardinality() if callable(cardinality) else cardinality)
        except Exception:  # an object whose cardinality is not a number
            return None
        return value if value >= 0 else None
    try:
        return len(cast(Sized, dataset))
    except TypeError:
        return None


class EpochBatches:
    """Hands out each epoch's batches of ``dataset`` as ``fit`` would (see the module docstring).

    Args:
        dataset: any iterable of batches (a ``tf.data.Dataset``, a distributed dataset, a list).
        steps_per_epoch: batches per epoch; None reads each epoch to the dataset's end.
        length: the dataset's batches, when ``dataset`` itself cannot say (a distributed dataset
            made from a dataset of known length); by default what :func:`known_length` finds.

    Attributes:
        ran_out: per epoch handed out so far, whether the data ran out before ``steps_per_epoch``.
    """

    def __init__(
        self, dataset: Iterable[TensorLike], steps_per_epoch: int | None, length: int | None = None
    ) -> None:
        if steps_per_epoch is not None and steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be at least 1, got {steps_per_epoch}")
        self.dataset = dataset
        self.steps_per_epoch = steps_per_epoch
        self.length = length if length is not None else known_length(dataset)
        self._iterator: Iterator[TensorLike] | None = None
        self._seen = 0
        self.ran_out: list[bool] = []

    def input_path(self) -> str:
        """How the batches are made, for the report: ``tf.data.Dataset`` (or the object's type)."""
        kind = type(self.dataset)
        module = kind.__module__
        if module.startswith("tensorflow"):
            name = "tf.data.Dataset" if "data" in module else kind.__name__
        else:
            name = f"{module}.{kind.__name__}" if module != "builtins" else kind.__name__
        per_epoch = f"steps_per_epoch {self.steps_per_epoch}" if self.steps_per_epoch else "to its end"
        return f"{name}, {per_epoch}"

    def epoch(self) -> Iterable[TensorLike]:
        """The next epoch's batches, as an iterable whose ``iter()`` makes (or resumes) the iterator."""
        self.ran_out.append(False)
        return _Epoch(self, len(self.ran_out) - 1)

    def _batches(self, epoch: int) -> Iterator[TensorLike]:
        if self.steps_per_epoch is None:
            yield from self.dataset
            return
        fresh = self._iterator is None
        if fresh:
            self._iterator = iter(self.dataset)
            self._seen = 0
        for index in range(self.steps_per_epoch):
            if self.length is not None and self._seen >= self.length:
                self._out_of_data(epoch)
                return
            assert self._iterator is not None  # set above, and only cleared once the epoch is done
            try:
                batch = next(self._iterator)
            except StopIteration:
                if self.length is None:
                    self.length = self._seen  # learnt, as Keras learns it, so later epochs restart at the end
                if index == 0 and not fresh and self._seen:
                    # The last epoch ended exactly at the data's end (unknown beforehand): start afresh
                    # rather than run an empty epoch (Keras would run one, then restart).
                    self._iterator, self._seen, fresh = iter(self.dataset), 0, True
                    try:
                        batch = next(self._iterator)
                    except StopIteration:
                        self._out_of_data(epoch)
                        return
                else:
                    self._out_of_data(epoch)
                    return
            self._seen += 1
            yield batch
        if self.length is not None and self._seen >= self.length:
            self._iterator = None  # the whole dataset was read: the next epoch starts it afresh

    def _out_of_data(self, epoch: int) -> None:
        self.ran_out[epoch] = True
        self._iterator = None
        warnings.warn(RAN_OUT_OF_DATA, stacklevel=4)


class _Epoch:
    def __init__(self, owner: EpochBatches, index: int) -> None:
        self._owner, self._index = owner, index

    def __iter__(self) -> Iterator[TensorLike]:
        return self._owner._batches(self._index)
