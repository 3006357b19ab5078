"""Garbage collection kept out of the timed epochs, without keeping anything alive afterwards.

TensorFlow and Keras leave large object graphs behind (traced functions, models); a full collection
that has to walk them pauses a loop for 100 ms or more at a random step. Before each epoch, outside
its timing, :class:`GarbageSettler` collects and freezes the survivors (``gc.freeze``), so later
collections skip them and the pauses left inside the epoch stay short (they are still measured, as
``EpochTiming.gc_ms``).

Frozen objects are never collected, so the freeze is undone when the run ends (``gc.unfreeze``):
otherwise every model of every earlier run in a notebook stays in memory, on a GPU its tensors too.
When something else has frozen objects before the run starts (a server that freezes after import),
that freeze is left alone: the settler then collects but does not freeze, and never unfreezes.

A full settle (unfreeze, collect everything, freeze again) walks every object TensorFlow and Keras
hold: 260-340 ms here, more than a whole 60-step mnist epoch. It is what collects an object that was
alive at one settle and dropped after it (an iterator replaced when the data runs out), which a
collection of the unfrozen objects alone (about 0 ms) cannot reach. So, given each epoch's wall
time, the settler runs a full settle by budget: when the epochs since the last one add up to
:data:`FULL_SETTLE_SHARE` of them at least the last full settle's cost (100 × 0.3 s = 30 s of epochs
here); between them it collects and freezes only what is new. Garbage that a freeze caught is
therefore kept at most that long; the first settle of a run is always full.
"""

from __future__ import annotations

import gc
import time
from types import TracebackType

__all__ = ["FULL_SETTLE_SHARE", "GarbageSettler"]

#: A full settle may cost this share of the epochs' wall time (see the module docstring).
FULL_SETTLE_SHARE = 0.01


class GarbageSettler:
    """Use as ``with GarbageSettler() as garbage: ... garbage.settle(last_epoch_ms)`` before each epoch.

    Attributes:
        full_settles: how many full settles ran (the others collected only what was new).
        full_ms: the last full settle's wall time (ms), None before the first.
    """

    def __init__(self, full_share: float = FULL_SETTLE_SHARE) -> None:
        self._owned = False
        self._share = full_share
        self._credit_ms = 0.0
        self.full_settles = 0
        self.full_ms: float | None = None

    def __enter__(self) -> GarbageSettler:
        self._owned = gc.get_freeze_count() == 0
        self.full_ms, self._credit_ms = None, 0.0  # a run's first settle is full
        return self

    def settle(self, since_ms: float | None = None) -> None:
        """Collect garbage and, if this settler owns the freeze, freeze what survives.

        Args:
            since_ms: the wall time (ms) of the epochs since the last settle. None: a full settle now
                (as on the first). Otherwise a full settle only once :data:`FULL_SETTLE_SHARE` of the
                epochs since the last one covers its cost; else only what is new since the last
                freeze is collected.

        A full settle undoes the previous freeze first: an object that was alive at the last settle
        (an epoch's dataset iterator, still referenced then) and has become garbage since would
        otherwise stay frozen, never collected, until the run ends, with whatever it holds (a
        distributed iterator's buffers and threads among them)."""
        if not self._owned:
            gc.collect()
            return
        if since_ms is not None:
            self._credit_ms += self._share * max(0.0, since_ms)
        full = since_ms is None or self.full_ms is None or self._credit_ms >= self.full_ms
        if not full:
            gc.collect()  # the frozen objects are not walked: only what is new since the last freeze
            gc.freeze()
            return
        start = time.perf_counter()
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self.full_ms = (time.perf_counter() - start) * 1000.0
        self._credit_ms = 0.0
        self.full_settles += 1

    def release(self) -> None:
        """Undo this settler's freeze (safe to call more than once)."""
        if self._owned:
            gc.unfreeze()
            self._owned = False

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.release()
