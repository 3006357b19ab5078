"""The compact form of a report's per-step values (schema 8): ticks of 0.1 µs, byte planes, deflate, base64.

A report keeps every step's time in every phase (``EpochReport.step_ms``), already rounded to 4
decimals of a millisecond. Written as JSON numbers that is about 13 bytes a value; a million steps
of seven phases would be a 100 MB file. Schema 8 writes each list as one JSON object::

    {"encoding": "ticks-i4-planes-deflate-base64", "tick_ms": 0.0001, "count": 6000, "data": "eJzt..."}

``data`` is base64 of the deflated (zlib) little-endian int32 values ``round(ms / tick_ms)``, laid out
as byte planes (every value's first byte, then every second byte...), so the high bytes, nearly all
alike, deflate to almost nothing. Values too large for int32 (over 214 s a phase-step) are written
with ``ticks-i8-...`` (int64). Lossless for the 4-decimal values the report holds: a list read back
equals the list written, so a report renders the same in either form. Read with numpy::

    raw = zlib.decompress(base64.b64decode(data))
    ticks = np.frombuffer(raw, np.uint8).reshape(size, count).T.copy().view(f"<i{size}").ravel()
    ms = ticks * tick_ms

Why not float32 or an ``.npz`` sidecar: float32 changes the values (a saved report would no longer
render as the one in memory), and a sidecar can be separated from its report (copied, attached to an
issue) while one JSON file cannot.

Step kinds are run-length lists, ``[["fused", 24], ["probe", 1], ...]`` (in memory a
:class:`StepKinds`, a small code a step); probe samples are columns
(one packed list of hosts and one of waits per variant) when every sample of the epoch has the same
variants.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Iterator, Mapping, Sequence
from itertools import groupby
from typing import Any, overload

import numpy as np

__all__ = [
    "ProbeSamples",
    "StepKinds",
    "StepValues",
    "TICKS_PER_MS",
    "TICK_MS",
    "as_step_kinds",
    "is_packed",
    "pack_kinds",
    "pack_samples",
    "pack_values",
    "joined_samples",
    "sample_columns",
    "unpack_array",
    "unpack_kinds",
    "unpack_samples",
    "unpack_values",
]

#: The resolution of a report's per-step values (their 4 decimals of a ms).
TICK_MS = 1e-4
#: Ticks in a ms: a value is written as ``round(ms * TICKS_PER_MS)``.
TICKS_PER_MS = 10_000
#: Encoding -> bytes a value.
_ENCODINGS = {"ticks-i4-planes-deflate-base64": 4, "ticks-i8-planes-deflate-base64": 8}
_INT32 = 2**31 - 1


class StepValues(Sequence[float]):
    """Per-step values (ms) held as one read-only float64 array: what a report holds for each phase
    (``EpochReport.step_ms``), read from a file or built from a run, so a long run's values are never
    a Python float each. It reads as a sequence of floats (``len``, indexing, iteration) and equals a
    list of the same floats; analysis takes :attr:`array` (or ``np.asarray``) and works on it whole.
    """

    __slots__ = ("array",)

    def __init__(self, values: Sequence[float] | np.ndarray) -> None:
        data = np.array(values, dtype=float)  # a copy: the caller's array cannot change it
        data.flags.writeable = False
        self.array: np.ndarray = data

    @classmethod
    def holding(cls, array: np.ndarray) -> StepValues:
        """Values held in ``array`` itself, a float64 array the caller gives up (made read-only here,
        not copied)."""
        if array.dtype != np.float64:
            return cls(array)
        array.flags.writeable = False
        values = cls.__new__(cls)
        values.array = array
        return values

    def __len__(self) -> int:
        return len(self.array)

    @overload
    def __getitem__(self, index: int) -> float: ...
    @overload
    def __getitem__(self, index: slice) -> StepValues: ...
    def __getitem__(self, index: int | slice) -> float | StepValues:
        if isinstance(index, slice):
            return StepValues(self.array[index])
        return float(self.array[index])

    def __iter__(self) -> Iterator[float]:
        return iter(self.array.tolist())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StepValues):
            return bool(np.array_equal(self.array, other.array))
        if isinstance(other, (list, tuple)):
            return self.array.tolist() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to a list, so unhashable like one

    def __repr__(self) -> str:
        return repr(self.array.tolist())

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.array if dtype is None else self.array.astype(dtype)

    def __deepcopy__(self, memo: dict) -> StepValues:
        return self  # immutable

    def __reduce__(self) -> tuple[Any, ...]:
        return StepValues, (self.array,)

    def tolist(self) -> list[float]:
        """The values as a list of Python floats."""
        return self.array.tolist()


class StepKinds(Sequence[str]):
    """Each step's kind (``fused``, ``block``, ``probe``, ``split``...) held as one small integer code
    a step (a read-only uint8 array, :attr:`codes`) and the kinds' names (:attr:`names`, code ``i``
    is ``names[i]``): what an epoch's ``step_kinds`` is in memory, built from the step table's own
    codes or from a report's runs, so a long run's kinds are never a Python string a step. It reads
    as the list of names it stands for (``len``, indexing, iteration, ``in``, ``count``) and equals
    that list; analysis takes :meth:`mask` (a boolean array a kind), :meth:`count` (counted once)
    and :meth:`runs` (what a report writes) without a string a step.

    Args:
        kinds: the kinds as names (a list made by hand, or a schema 7 report's list).
    """

    __slots__ = ("names", "codes", "_counts")

    def __init__(self, kinds: Sequence[str] = ()) -> None:
        names = list(dict.fromkeys(kinds))
        lookup = {name: code for code, name in enumerate(names)}
        codes = np.fromiter((lookup[kind] for kind in kinds), dtype=_code_type(len(names)), count=len(kinds))
        self._hold(names, codes)

    def _hold(self, names: Sequence[str], codes: np.ndarray) -> None:
        codes.flags.writeable = False
        self.names: tuple[str, ...] = tuple(names)
        self.codes: np.ndarray = codes
        self._counts: np.ndarray | None = None

    @classmethod
    def from_codes(cls, names: Sequence[str], codes: np.ndarray) -> StepKinds:
        """Kinds from a code a step (``codes[i]`` indexes ``names``), copied.

        Raises:
            ValueError: a code with no name.
        """
        codes = np.array(codes, dtype=_code_type(len(names)))
        if codes.size and int(codes.max()) >= len(names):
            raise ValueError(f"step kind code {int(codes.max())} has no name among {list(names)}")
        kinds = cls.__new__(cls)
        kinds._hold(names, codes)
        return kinds

    @classmethod
    def from_runs(cls, names: Sequence[str], lengths: Sequence[int]) -> StepKinds:
        """Kinds from runs: ``names[i]`` repeated ``lengths[i]`` times, in order (a name may recur)."""
        distinct = list(dict.fromkeys(names))
        lookup = {name: code for code, name in enumerate(distinct)}
        codes = np.repeat(
            np.array([lookup[name] for name in names], dtype=_code_type(len(distinct))),
            np.asarray(lengths, dtype=np.int64),
        )
        kinds = cls.__new__(cls)
        kinds._hold(distinct, codes)
        return kinds

    def __len__(self) -> int:
        return len(self.codes)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> StepKinds: ...
    def __getitem__(self, index: int | slice) -> str | StepKinds:
        if isinstance(index, slice):
            return StepKinds.from_codes(self.names, self.codes[index])
        return self.names[self.codes[index]]

    def __iter__(self) -> Iterator[str]:
        return iter(self.tolist())

    def __contains__(self, kind: object) -> bool:
        return kind in self.names and self.count(kind) > 0

    def count(self, kind: Any) -> int:
        """Steps of ``kind`` (all kinds counted in one pass, once)."""
        if kind not in self.names:
            return 0
        if self._counts is None:
            self._counts = np.bincount(self.codes, minlength=len(self.names))
        return int(self._counts[self.names.index(kind)])

    def mask(self, kind: str) -> np.ndarray:
        """Whether each step is of ``kind``: a boolean array, a value a step."""
        if kind not in self.names:
            return np.zeros(len(self.codes), dtype=bool)
        return self.codes == self.names.index(kind)

    def runs(self) -> list[list[Any]]:
        """The kinds as runs, ``[[kind, count], ...]`` in order (what a report writes)."""
        if not len(self.codes):
            return []
        starts = np.flatnonzero(np.concatenate(([True], self.codes[1:] != self.codes[:-1])))
        lengths = np.diff(np.append(starts, len(self.codes)))
        codes = self.codes[starts].tolist()
        return [[self.names[code], length] for code, length in zip(codes, lengths.tolist())]

    def tolist(self) -> list[str]:
        """The kinds as a list of names."""
        if not self.names:
            return []
        return np.array(self.names, dtype=object)[self.codes].tolist()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StepKinds):
            if self.names == other.names:
                return bool(np.array_equal(self.codes, other.codes))
            return self.tolist() == other.tolist()
        if isinstance(other, (list, tuple)):
            return self.tolist() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to a list, so unhashable like one

    def __repr__(self) -> str:
        return repr(self.tolist())

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.array(self.tolist(), dtype=dtype)

    def __deepcopy__(self, memo: dict) -> StepKinds:
        return self  # immutable

    def __reduce__(self) -> tuple[Any, ...]:
        return StepKinds.from_codes, (self.names, self.codes)


def as_step_kinds(kinds: Sequence[str]) -> StepKinds:
    """``kinds`` as :class:`StepKinds`: itself when it is one (a report's, a breakdown's), else its
    names read once (a list put there by hand)."""
    return kinds if isinstance(kinds, StepKinds) else StepKinds(kinds)


def _code_type(kinds: int) -> type[np.unsignedinteger]:
    """The smallest unsigned integer that holds a code for each of ``kinds`` kinds."""
    return np.uint8 if kinds <= 256 else np.uint32


class ProbeSamples(Sequence[dict[str, list[float]]]):
    """Probe samples held as columns: per variant, one array of host ms and one of device wait ms
    (a row a sampled step), as schema 8 stores them. It reads as the list of
    ``{variant: [host ms, wait ms]}`` dicts it stands for (built on access, never held), and equals
    that list; :attr:`columns` lets analysis work on whole columns."""

    __slots__ = ("columns", "rows")
    #: columns: variant -> (host ms, wait ms) arrays; rows: the number of samples.

    def __init__(self, columns: dict[str, tuple[np.ndarray, np.ndarray]], count: int) -> None:
        if any(len(column) != count for pair in columns.values() for column in pair):
            raise ValueError("samples: a variant's columns do not hold count values")
        self.columns = {
            name: (StepValues(host).array, StepValues(wait).array) for name, (host, wait) in columns.items()
        }
        self.rows = count if columns else 0

    def __len__(self) -> int:
        return self.rows

    @overload
    def __getitem__(self, index: int) -> dict[str, list[float]]: ...
    @overload
    def __getitem__(self, index: slice) -> ProbeSamples: ...
    def __getitem__(self, index: int | slice) -> dict[str, list[float]] | ProbeSamples:
        if isinstance(index, slice):
            sliced = {name: (host[index], wait[index]) for name, (host, wait) in self.columns.items()}
            return ProbeSamples(sliced, len(range(self.rows)[index]))
        row = range(self.rows)[index]  # IndexError past the end, as a list's
        return {name: [float(host[row]), float(wait[row])] for name, (host, wait) in self.columns.items()}

    def __iter__(self) -> Iterator[dict[str, list[float]]]:
        pairs = [
            [list(pair) for pair in zip(host.tolist(), wait.tolist())] for host, wait in self.columns.values()
        ]
        return (dict(zip(self.columns, row)) for row in zip(*pairs))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (ProbeSamples, list, tuple)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to a list, so unhashable like one

    def __repr__(self) -> str:
        return repr(list(self))

    def __deepcopy__(self, memo: dict) -> ProbeSamples:
        return self  # immutable

    def __reduce__(self) -> tuple[Any, ...]:
        return ProbeSamples, (self.columns, self.rows)


def pack_values(values: Sequence[float] | np.ndarray) -> dict[str, Any]:
    """``values`` (ms) as the schema-8 object: ticks of :data:`TICK_MS`, byte planes, zlib, base64."""
    scaled = np.rint(np.asarray(values, dtype=float) * TICKS_PER_MS)  # as round(): half to even
    if not np.isfinite(scaled).all():
        raise ValueError("per-step values hold NaN or infinity: not a time a report holds")
    size = 8 if scaled.size and float(np.abs(scaled).max()) > _INT32 else 4
    ticks = scaled.astype(f"<i{size}")  # little-endian whatever the machine
    planes = ticks.view(np.uint8).reshape(len(ticks), size).T.tobytes()  # every value's byte 0, then 1...
    return {
        "encoding": f"ticks-i{size}-planes-deflate-base64",
        "tick_ms": TICK_MS,
        "count": len(ticks),
        "data": base64.b64encode(zlib.compress(planes, 9)).decode("ascii"),
    }


def unpack_values(packed: dict[str, Any]) -> list[float]:
    """The list of ms :func:`pack_values` packed (:func:`unpack_array` gives them as an array).

    Raises:
        ValueError: an unknown encoding, or data that is not what its object says (the message names which).
    """
    return unpack_array(packed).tolist()


def unpack_array(packed: dict[str, Any]) -> np.ndarray:
    """The ms :func:`pack_values` packed, as a float64 array (each the float ``tick / 10000``).

    Raises:
        ValueError: an unknown encoding, or data that is not what its object says (the message names which).
    """
    size = _ENCODINGS.get(packed.get("encoding"))  # type: ignore[arg-type]
    if size is None:
        raise ValueError(f"per-step values in an unknown encoding {packed.get('encoding')!r}")
    count = packed.get("count")
    if packed.get("tick_ms") != TICK_MS or not isinstance(count, int) or count < 0:
        raise ValueError("per-step values: tick_ms or count is not what this encoding has")
    try:
        planes = zlib.decompress(base64.b64decode(packed.get("data", ""), validate=True))
    except (ValueError, zlib.error) as error:
        raise ValueError(f"per-step values cannot be decoded ({error})") from None
    if len(planes) != size * count:
        raise ValueError(f"per-step values: {len(planes)} bytes for {count} values")
    interleaved = np.empty((count, size), dtype=np.uint8)  # each value's bytes together again
    for plane, values in enumerate(np.frombuffer(planes, np.uint8).reshape(size, count)):
        interleaved[:, plane] = values  # a plane a pass: a quarter of the time of a transposed copy
    ticks = interleaved.view(f"<i{size}").ravel()
    return ticks / TICKS_PER_MS  # exact ticks (< 2**53) divided: as Python's tick / 10000


def is_packed(value: Any) -> bool:
    """Whether a JSON value is a packed list (schema 8) rather than a list of numbers."""
    return isinstance(value, dict) and "encoding" in value


def pack_samples(samples: Sequence[dict[str, list[float]]]) -> Any:
    """Probe samples (one ``{variant: [host ms, wait ms]}`` a probe step) as columns, when every
    sample times the same variants: ``{"count": n, "variants": {variant: [packed hosts, packed
    waits]}}``; otherwise (or none) the list as it is."""
    columns = sample_columns(samples)
    if columns is None:
        return list(samples)
    return {
        "count": len(samples),
        "variants": {name: [pack_values(host), pack_values(wait)] for name, (host, wait) in columns.items()},
    }


def sample_columns(
    samples: Sequence[Mapping[str, Sequence[float]]],
) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """Probe samples as columns, variant -> (host ms, wait ms) arrays, when there are some and every
    sample times the same variants as ``[host, wait]`` pairs; None otherwise."""
    if isinstance(samples, ProbeSamples):
        return samples.columns if samples.rows else None
    if not samples:
        return None
    keys = samples[0].keys()
    if not all(sample.keys() == keys for sample in samples):
        return None
    names = list(keys)
    try:  # one array (samples × variants × 2) in one pass
        pairs = np.array([[sample[name] for name in names] for sample in samples], dtype=float)
    except (TypeError, ValueError):
        pairs = None
    if pairs is not None and pairs.shape == (len(samples), len(names), 2):
        return {name: (pairs[:, k, 0].copy(), pairs[:, k, 1].copy()) for k, name in enumerate(names)}
    # not pairs of numbers throughout: the rule pair by pair (None for a pair that is not two
    # values; a value that is not a number raises as numpy does)
    if any(len(pair) != 2 for sample in samples for pair in sample.values()):
        return None
    return {
        name: (
            np.array([s[name][0] for s in samples], dtype=float),
            np.array([s[name][1] for s in samples], dtype=float),
        )
        for name in names
    }


def joined_samples(groups: Sequence[Sequence[Mapping[str, Sequence[float]]]]) -> Sequence[Any]:
    """The samples of ``groups`` (an epoch's each) one after another: one :class:`ProbeSamples` when
    every group can be held as columns (:func:`sample_columns`) of the same variants, so analysis
    reads whole columns; otherwise one list of the samples. The columns are in the first group's
    order of variants, the order :func:`sample_columns` gives that list (its dicts' keys compared as
    sets): epochs whose probe steps started their rotation at different calls hold the same variants
    in different orders."""
    columns = [sample_columns(group) for group in groups if len(group)]
    held = [c for c in columns if c is not None]
    if not held or len(held) < len(columns) or any(c.keys() != held[0].keys() for c in held):
        return [sample for group in groups for sample in group]
    return ProbeSamples(
        {
            name: (np.concatenate([c[name][0] for c in held]), np.concatenate([c[name][1] for c in held]))
            for name in held[0]
        },
        sum(len(c[next(iter(c))][0]) for c in held),
    )


def unpack_samples(packed: Any) -> Any:
    """The samples :func:`pack_samples` packed, as :class:`ProbeSamples` (columns); a list (schema 7
    and older, or mixed variants) as it is.

    Raises:
        ValueError: columns that are not a pair of packed lists of ``count`` values each.
    """
    if not (isinstance(packed, dict) and isinstance(packed.get("variants"), dict)):
        return packed
    columns = {}
    for name, pair in packed["variants"].items():
        if not (isinstance(pair, list) and len(pair) == 2 and all(is_packed(column) for column in pair)):
            raise ValueError(f"samples.variants.{name} is not a pair of packed lists")
        columns[name] = (unpack_array(pair[0]), unpack_array(pair[1]))
    count = packed.get("count")
    if not isinstance(count, int):
        raise ValueError("samples: count is not a number of samples")
    return ProbeSamples(columns, count)


def pack_kinds(kinds: Sequence[str]) -> list[list[Any]]:
    """Step kinds as runs: ``["fused", "fused", "probe"]`` -> ``[["fused", 2], ["probe", 1]]`` (a
    :class:`StepKinds` from its codes, without a string a step)."""
    if isinstance(kinds, StepKinds):
        return kinds.runs()
    return [[kind, len(list(run))] for kind, run in groupby(kinds)]


def unpack_kinds(runs: list[Any]) -> StepKinds:
    """The kinds :func:`pack_kinds` packed, as :class:`StepKinds` (equal to the list of names); a
    plain list of kinds (schema 7 and older) read the same way.

    Raises:
        ValueError: a run that is not ``[kind, count]``.
    """
    names: list[str] = []
    lengths: list[int] = []
    for run in runs:
        if isinstance(run, str):
            names.append(run)
            lengths.append(1)
        elif (
            isinstance(run, list)
            and len(run) == 2
            and isinstance(run[0], str)
            and isinstance(run[1], int)
            and run[1] >= 0
        ):
            names.append(run[0])
            lengths.append(run[1])
        else:
            raise ValueError(f"step_kinds holds {run!r}, not a kind or [kind, count]")
    return StepKinds.from_runs(names, lengths)
