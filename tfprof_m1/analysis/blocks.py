"""Block summaries: what a bootstrap resamples once a run is long, so its cost stops growing.

The bootstraps resample units (blocks of consecutive steps, unprofiled stretches, probe samples).
Their number grows with the run: 60,000 steps are 3,000 blocks of 20. Past :data:`MAX_BLOCKS`
units, consecutive units are summarised into that many groups first (sums for (steps, ms) blocks,
medians for probe samples), and the bootstrap resamples the summaries: its cost is then bounded,
while point estimates stay those of every raw value. Longer blocks for longer series is the usual
block-bootstrap practice (the block length grows with the series); shorter runs, up to
:data:`MAX_BLOCKS` units, are resampled exactly as before. ``compare``'s hierarchical bootstrap
resamples each epoch's blocks of steps apart, at most :data:`MAX_EPOCH_BLOCKS` an epoch
(:func:`block_length`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

__all__ = ["MAX_BLOCKS", "MAX_EPOCH_BLOCKS", "block_length", "group_medians", "grouped", "summed_blocks"]

T = TypeVar("T")

#: Most units a bootstrap resamples; more are summarised into this many consecutive groups. 64: a
#: run of 6,000 steps (the issue's yardstick) already resamples 21-59 units a bootstrap (the budget's
#: probe samples and stretches, the blocks), so ten times the steps costs the bootstraps less than
#: twice the time; and grouped intervals still hold a known answer as often as they say (the cost's:
#: 97 % of runs of 1,800 drifting blocks, 95 % ungrouped, 16 % wider; the parts' shares: 95-96 %
#: from 700 samples): ``benchmarks/bootstrap_cap.py``, docs/performance.md. It was 200.
MAX_BLOCKS = 64
#: Most blocks of steps ``compare`` resamples within one epoch (its bootstrap resamples runs, then
#: epochs, then each epoch's blocks): a 2,000-step epoch's blocks of 10 already reach it, so its cost
#: does not grow past there. Kept at 200 when :data:`MAX_BLOCKS` went to 64: a comparison's intervals
#: are as they were.
MAX_EPOCH_BLOCKS = 200


def grouped(items: Sequence[T], most: int = MAX_BLOCKS) -> list[Sequence[T]]:
    """``items`` cut into at most ``most`` consecutive groups of near-equal size, in order (one item
    a group when there are no more than ``most``)."""
    count = len(items)
    if count <= most:
        return [items[index : index + 1] for index in range(count)]
    return [items[k * count // most : (k + 1) * count // most] for k in range(most)]


def group_medians(rows: np.ndarray, most: int = MAX_BLOCKS) -> np.ndarray:
    """Column medians of the consecutive groups :func:`grouped` cuts ``rows`` (items × columns) into:
    a (groups × columns) array, ``rows`` itself when there are no more than ``most`` rows.

    Vectorised: the groups have at most two sizes, and each size's groups are one gathered
    (groups × size × columns) array, so the cost is a few numpy calls however many groups there are.
    Each median is numpy's (the mean of the two middle values for an even count), the same float as
    :func:`statistics.median` of the group's column.
    """
    count = len(rows)
    if count <= most:
        return rows
    starts = np.arange(most) * count // most
    sizes = np.diff(np.append(starts, count))
    medians = np.empty((most, *rows.shape[1:]))
    for size in np.unique(sizes):
        chosen = sizes == size
        gathered = rows[starts[chosen, None] + np.arange(size)]  # (groups × size × columns)
        medians[chosen] = np.median(gathered, axis=1)
    return medians


def summed_blocks(blocks: Sequence[tuple[int, float]], most: int = MAX_BLOCKS) -> list[tuple[int, float]]:
    """(steps, ms) blocks added up in at most ``most`` consecutive groups: the ratio of sums (the
    per-step time) is unchanged; only the bootstrap's units get longer."""
    if len(blocks) <= most:
        return list(blocks)
    count = len(blocks)
    steps, ms = (np.array(column) for column in zip(*blocks))
    starts = np.arange(most) * count // most  # the groups :func:`grouped` cuts
    sizes = np.diff(np.append(starts, count))
    # each group's ms added one at a time in order, as sum(): a row a group, padded with zeros,
    # added up along the row (whole steps add up exactly in any order)
    rows = np.zeros((most, int(sizes.max())))
    rows[np.repeat(np.arange(most), sizes), np.arange(count) - np.repeat(starts, sizes)] = ms
    totals = np.cumsum(rows, axis=1)[:, -1]
    return list(zip(np.add.reduceat(steps, starts).tolist(), totals.tolist()))


def block_length(steps: int, shortest: int, most: int = MAX_EPOCH_BLOCKS) -> int:
    """Steps a bootstrap block of an epoch of ``steps`` spans: ``shortest``, or longer when that would
    make more than ``most`` blocks."""
    return max(shortest, -(-steps // most))
