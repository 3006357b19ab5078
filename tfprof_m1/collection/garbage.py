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
"""

from __future__ import annotations

import gc
from types import TracebackType

__all__ = ["GarbageSettler"]


class GarbageSettler:
    """Use as ``with GarbageSettler() as garbage: ... garbage.settle()`` before each epoch."""

    def __init__(self) -> None:
        self._owned = False

    def __enter__(self) -> GarbageSettler:
        self._owned = gc.get_freeze_count() == 0
        return self

    def settle(self) -> None:
        """Collect garbage and, if this settler owns the freeze, freeze what survives.

        The previous epoch's freeze is undone first: an object that was alive at the last settle (an
        epoch's dataset iterator, still referenced then) and has become garbage since would otherwise
        stay frozen, never collected, until the run ends, with whatever it holds (a distributed
        iterator's buffers and threads among them)."""
        if self._owned:
            gc.unfreeze()
        gc.collect()
        if self._owned:
            gc.freeze()

    def release(self) -> None:
        """Undo this settler's freeze (safe to call more than once)."""
        if self._owned:
            gc.unfreeze()
            self._owned = False

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.release()
