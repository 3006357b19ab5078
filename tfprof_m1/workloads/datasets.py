"""Training data for the article models: real files in their published formats, or synthetic.

Readers here use numpy and the standard library only, validate everything they read, and turn any
problem into a one-line :class:`~tfprof_m1.base.errors.UserError` naming the file. Keras is imported
only to download, where the network allows it.

Formats (the files Keras itself downloads):

- MNIST: ``mnist.npz`` with ``x_train`` (N×28×28 uint8) and ``y_train`` (N labels).
- Fashion-MNIST: IDX files ``train-images-idx3-ubyte.gz`` and ``train-labels-idx1-ubyte.gz``.
- CIFAR-10: ``cifar-10-python.tar.gz`` or its extracted ``cifar-10-batches-py/`` with the pickled
  ``data_batch_1`` … ``data_batch_5`` (each a dict with ``b"data"``, 10000×3072 uint8 in
  channel-major order, and ``b"labels"``).
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import io
import math
import os
import pickle
import struct
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, NoReturn

import numpy as np

from tfprof_m1.base.errors import UserError
from tfprof_m1.base.safe_io import read_bounded, regular_size
from tfprof_m1.workloads.models import ModelSpec

__all__ = ["DATA_MODES", "TrainData", "find_data", "keras_cache_dir", "load_train_data", "synthetic"]

DATA_MODES = ("auto", "real", "synthetic")
NO_DOWNLOAD_ENV = "TFPROF_M1_NO_DOWNLOAD"

FASHION_IMAGES = "train-images-idx3-ubyte.gz"
FASHION_LABELS = "train-labels-idx1-ubyte.gz"
CIFAR_DIR = "cifar-10-batches-py"
CIFAR_TARBALL = "cifar-10-python.tar.gz"
CIFAR_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))


@dataclass
class TrainData:
    """A training set as uint8 images and labels, with where it came from and why."""

    images: np.ndarray
    labels: np.ndarray
    source: str  # "real" or "synthetic"
    reason: str
    path: str | None = None
    notes: list[str] = field(default_factory=list)
    #: The files read (the run's inputs, which no output of the run may replace).
    files: list[str] = field(default_factory=list)

    @property
    def examples(self) -> int:
        """Training examples held."""
        return int(self.labels.shape[0])


# -- where to look ------------------------------------------------------------------------------
def keras_cache_dir() -> Path:
    """Keras' dataset cache: ``$KERAS_HOME/datasets``, by default ``~/.keras/datasets``.

    Where the home folder cannot be written, Keras (``keras.src.backend.config`` and
    ``keras.utils.get_file``) keeps its cache under the temporary folder instead, and so is it
    looked for here.
    """
    home = os.environ.get("KERAS_HOME")
    if not home:
        base = os.path.expanduser("~")
        if not os.access(base, os.W_OK):
            base = "/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()
        home = os.path.join(base, ".keras")
    elif os.path.isdir(home) and not os.access(home, os.W_OK):
        home = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    return Path(home) / "datasets"


def search_dirs(data_dir: str | os.PathLike | None) -> list[Path]:
    """Where dataset files are looked for: ``--data-dir`` first, then the Keras cache."""
    dirs = [Path(data_dir)] if data_dir else []
    return dirs + [keras_cache_dir()]


def _is(path: Path, directory: bool) -> bool:
    if not path.exists():
        return False
    if path.is_dir() != directory:
        kind, wanted = ("a directory", "a file") if path.is_dir() else ("a file", "a directory")
        raise UserError(
            f"{path}: is {kind}, expected {wanted} of the published dataset; move it away or pass --data-dir"
        )
    return True


def find_data(spec: ModelSpec, dirs: list[Path]) -> Path | None:
    """The first place in ``dirs`` holding ``spec``'s data in a known layout, or None."""
    for directory in dirs:
        files = DATASET_FILES[spec.name]
        for candidate in files.candidates(directory):
            if files.present(candidate):
                return candidate
    return None


def expected_files(spec: ModelSpec) -> str:
    """The file names a model's dataset is read from, for messages."""
    return DATASET_FILES[spec.name].expected


# -- validation ---------------------------------------------------------------------------------
def validate(images: np.ndarray, labels: np.ndarray, spec: ModelSpec, path: Path) -> None:
    """Check dtype, shape, label range and that images and labels agree in count."""
    if images.dtype != np.uint8:
        raise UserError(
            f"{path}: images are {images.dtype}, expected uint8; the file is not the published {spec.dataset}"
        )
    if images.shape[1:] != spec.input_shape:
        raise UserError(
            f"{path}: images have shape {images.shape[1:]}, expected {spec.input_shape} for {spec.dataset}"
        )
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise UserError(
            f"{path}: labels must be a 1-D integer array, got {labels.dtype} of shape {labels.shape}"
        )
    if images.shape[0] != labels.shape[0]:
        raise UserError(
            f"{path}: {images.shape[0]} images but {labels.shape[0]} labels; "
            "the file is damaged, fetch it again"
        )
    if images.shape[0] == 0:
        raise UserError(f"{path}: holds no examples; fetch the file again")
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= spec.classes:
        raise UserError(f"{path}: labels range over {low}..{high}, expected 0..{spec.classes - 1}")


# -- readers ------------------------------------------------------------------------------------
def read_mnist_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``x_train``, ``y_train`` of a Keras ``mnist.npz``, each member's header checked first.

    A member's ``.npy`` header (dtype, shape) is read and checked against the format (uint8 images
    of N×28×28, N integer labels), against :data:`MAX_IDX_BYTES` and against what its compressed
    size could hold before any data are inflated; no more than the promised bytes are ever read.
    """
    try:
        regular_size(path, MAX_ARCHIVE_BYTES, "mnist.npz")
        with zipfile.ZipFile(path) as archive:
            members = {info.filename: info for info in archive.infolist()}
            missing = {"x_train", "y_train"} - {name.removesuffix(".npy") for name in members}
            if missing:
                raise UserError(
                    f"{path}: no {', '.join(sorted(missing))} in the archive; not Keras' mnist.npz"
                )
            images = _read_npy_member(archive, members["x_train.npy"], path, ndim=3)
            labels = _read_npy_member(archive, members["y_train.npy"], path, ndim=1)
            return images, labels
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError, RuntimeError) as error:
        # NotImplementedError: a compression method zipfile lacks; RuntimeError: a member needs a password
        encrypted = isinstance(error, RuntimeError) and "encrypted" in str(error)
        raise UserError(
            f"{path}: cannot be read as an .npz archive "
            f"({'a member is encrypted' if encrypted else _reason(error)}); delete it and fetch it again"
        ) from None


def _read_npy_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, ndim: int) -> np.ndarray:
    """One ``.npy`` member of an npz archive: header checked against the format and sizes first."""
    from numpy.lib import format as npy

    where = f"{path}:{info.filename}"
    with archive.open(info) as stream:
        version = npy.read_magic(stream)
        read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
        shape, fortran, dtype = read_header(stream, max_header_size=10_000)
        if dtype.hasobject or len(shape) != ndim:  # the dtype itself is checked with the data (validate)
            raise UserError(
                f"{where}: holds {dtype} of shape {shape}, expected a {ndim}-D array of numbers; "
                "not Keras' mnist.npz, fetch it again"
            )
        expected = math.prod(shape) * dtype.itemsize
        possible = info.compress_size * GZIP_MAX_RATIO + 4096
        if expected > MAX_IDX_BYTES or expected > possible:
            limit = (
                "any published mnist.npz" if expected > MAX_IDX_BYTES else "this compressed member can hold"
            )
            raise UserError(
                f"{where}: header promises shape {shape} ({expected / 2**20:,.0f} MiB), more than {limit}; "
                "the file is damaged, fetch it again"
            )
        payload = stream.read(expected + 1)
    if len(payload) != expected:
        raise UserError(f"{where}: header promises {expected} bytes of data, the member holds {len(payload)}")
    return np.frombuffer(payload, dtype=dtype).reshape(shape, order="F" if fortran else "C")


#: Largest IDX data read (Fashion-MNIST's training images are 47 MB).
MAX_IDX_BYTES = 256 * 2**20
#: The most a gzip stream can inflate (deflate's limit is about 1032:1).
GZIP_MAX_RATIO = 1032
#: Largest dataset file or archive member read whole (CIFAR-10's tarball is 163 MB, a batch 31 MB).
MAX_ARCHIVE_BYTES = 512 * 2**20
#: Largest CIFAR-10 batch file (the published ones are 31 MB).
MAX_CIFAR_BATCH_BYTES = 64 * 2**20


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """An IDX file (gzip-compressed), with its header and size checked.

    The header is read first and what it promises is checked before the data are: against
    :data:`MAX_IDX_BYTES` and against what the compressed file could possibly hold (gzip inflates
    at most about 1032:1), and no more than the promised bytes are ever inflated, so a damaged or
    hostile file cannot make the reader allocate gigabytes. ``ndim``: the dimensions the file must
    have (3 for images, 1 for labels).
    """
    try:
        regular_size(path, MAX_ARCHIVE_BYTES, "IDX file")
        with gzip.open(path, "rb") as stream:
            head = stream.read(4)
            if len(head) < 4 or head[0:2] != b"\x00\x00" or head[2] != 0x08:
                raise UserError(f"{path}: not an IDX file of unsigned bytes (bad magic number)")
            if head[3] != ndim:
                raise UserError(
                    f"{path}: header gives {head[3]} dimensions, expected {ndim} "
                    f"({'images' if ndim == 3 else 'labels'}); the file is damaged, fetch it again"
                )
            shape_bytes = stream.read(4 * ndim)
            if len(shape_bytes) < 4 * ndim:
                raise UserError(f"{path}: truncated in its header; fetch it again")
            dims = struct.unpack(f">{ndim}I", shape_bytes)
            expected = math.prod(dims) if dims else 0
            possible = path.stat().st_size * GZIP_MAX_RATIO
            if expected > MAX_IDX_BYTES or expected > possible:
                limit = (
                    "any published IDX file" if expected > MAX_IDX_BYTES else "this compressed file can hold"
                )
                raise UserError(
                    f"{path}: header promises shape {dims} ({expected / 2**20:,.0f} MiB), more than "
                    f"{limit}; the file is damaged, fetch it again"
                )
            payload = stream.read(expected + 1)  # one byte more tells a file longer than its header says
    except FileNotFoundError:
        raise UserError(f"{path}: missing; put the file beside the others or use --data synthetic") from None
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise UserError(
            f"{path}: not a readable gzip file ({_reason(error)}); delete it and fetch it again"
        ) from None
    if len(payload) != expected:
        actual = f"more than {expected}" if len(payload) > expected else str(len(payload))
        raise UserError(
            f"{path}: header promises {expected} bytes of data for shape "
            f"{dims}, file holds {actual}; fetch it again"
        )
    return np.frombuffer(payload, dtype=np.uint8).reshape(dims)


def read_fashion_idx(directory: Path) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST's training images and labels from its two IDX files in ``directory``."""
    return read_idx(directory / FASHION_IMAGES, 3), read_idx(directory / FASHION_LABELS, 1)


#: The only globals a CIFAR-10 batch's pickle may name: numpy's array and dtype reconstruction
#: (under numpy 1 and numpy 2 module names) and the codec Python 3 uses for bytes in protocol 2.
CIFAR_PICKLE_GLOBALS = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }
)


class RefusedPickle(pickle.UnpicklingError):
    """A pickle that names a global outside :data:`CIFAR_PICKLE_GLOBALS`."""


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles exactly what a published CIFAR-10 batch holds (a dict of bytes keys to a uint8 array,
    lists of ints and bytes); any other global, such as ``os.system``, is refused before it is looked
    up, so a crafted file runs no code."""

    def find_class(self, module: str, name: str) -> Callable[..., object]:
        if (module, name) not in CIFAR_PICKLE_GLOBALS:
            raise RefusedPickle(f"{module}.{name}")
        if name == "ndarray":
            return _NDARRAY  # only ever an argument of _reconstruct: called directly it would allocate
        if name == "_reconstruct":
            return functools.partial(_empty_array, super().find_class(module, name))
        return super().find_class(module, name)


class _NdarrayMarker:
    """What a CIFAR pickle gets for ``numpy.ndarray``: the class _reconstruct is given, never a callable
    (``ndarray((300000, 3072), 'u1')`` in a 240-byte pickle would allocate 880 MB of blank images)."""

    def __call__(self, *args: object) -> NoReturn:
        raise RefusedPickle("numpy.ndarray called directly (an array not built from its own bytes)")


_NDARRAY = _NdarrayMarker()


def _empty_array(
    reconstruct: Callable[..., np.ndarray], subtype: object, shape: object, code: object
) -> np.ndarray:
    """numpy's ``_reconstruct`` as pickles use it: an empty array whose ``__setstate__`` then gives
    it the pickle's own bytes (so its size is bounded by the file's); any other use is refused."""
    if subtype is not _NDARRAY or not isinstance(shape, tuple) or shape != (0,):
        raise RefusedPickle(f"numpy _reconstruct of shape {shape!r}")
    return reconstruct(np.ndarray, (0,), code)


def _read_cifar_batch(stream: IO[bytes], name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = _CifarUnpickler(stream, encoding="bytes").load()
    except RefusedPickle as error:
        raise UserError(
            f"{name}: refused: the file asks to load {error}, which no CIFAR-10 batch does (it holds "
            "only arrays, lists and bytes); it is not the published file, delete it and fetch it again"
        ) from None
    except Exception as error:  # pickle raises many types on damaged input
        raise UserError(f"{name}: not a readable CIFAR-10 batch ({_reason(error)}); fetch it again") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise UserError(f"{name}: not a CIFAR-10 batch (no data/labels entries)")
    data, labels = batch[b"data"], batch[b"labels"]
    if not isinstance(data, np.ndarray):
        raise UserError(f"{name}: data is a {type(data).__name__}, expected a uint8 array")
    if isinstance(labels, list):  # checked item by item: np.asarray of nested lists could be huge or ragged
        if len(labels) > MAX_CIFAR_BATCH_BYTES // 3072:  # more labels than the file could hold images
            raise UserError(f"{name}: {len(labels):,} labels, more than a CIFAR-10 batch holds")
        if not all(type(label) is int for label in labels):
            raise UserError(f"{name}: labels are not a list of integers")
        labels = np.asarray(labels, dtype=np.int64)
    if not isinstance(labels, np.ndarray) or labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise UserError(f"{name}: labels are not a list of integers")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise UserError(f"{name}: data is {data.dtype} of shape {data.shape}, expected uint8 rows of 3072")
    if labels.shape != (data.shape[0],):
        raise UserError(f"{name}: {data.shape[0]} images but {labels.shape[0] if labels.ndim else 0} labels")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, labels


def read_cifar10(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The five training batches of CIFAR-10, from the tarball or the extracted directory."""
    parts = []
    if path.is_dir():
        for batch in CIFAR_BATCHES:
            member = path / batch
            if not member.exists():  # anything but a regular file is refused by read_bounded
                raise UserError(
                    f"{member}: missing; the CIFAR-10 directory is incomplete, fetch {CIFAR_TARBALL} again"
                )
            parts.append(
                _read_cifar_batch(
                    io.BytesIO(read_bounded(member, MAX_CIFAR_BATCH_BYTES, "CIFAR-10 batch")), str(member)
                )
            )
    else:
        regular_size(path, MAX_ARCHIVE_BYTES, "CIFAR-10 archive")
        try:
            with tarfile.open(path, "r:*") as archive:
                for batch in CIFAR_BATCHES:
                    name = f"{CIFAR_DIR}/{batch}"
                    try:
                        info = archive.getmember(name)
                        stream = archive.extractfile(info) if info.size <= MAX_CIFAR_BATCH_BYTES else None
                    except KeyError:
                        info, stream = None, None
                    if info is not None and info.size > MAX_CIFAR_BATCH_BYTES:
                        raise UserError(
                            f"{path}:{name}: {info.size / 2**20:,.0f} MiB, larger than any CIFAR-10 batch "
                            f"({MAX_CIFAR_BATCH_BYTES // 2**20} MiB at most); not the published file"
                        )
                    if stream is None:
                        raise UserError(f"{path}: has no {name}; not the published {CIFAR_TARBALL}")
                    parts.append(_read_cifar_batch(stream, f"{path}:{name}"))
        except (tarfile.TarError, OSError, EOFError) as error:
            raise UserError(
                f"{path}: not a readable tar.gz archive ({_reason(error)}); delete it and fetch it again"
            ) from None
    return np.concatenate([images for images, _ in parts]), np.concatenate([labels for _, labels in parts])


@dataclass(frozen=True)
class DatasetFiles:
    """One dataset's published files, in one place: the places a copy may be (``--data-dir``, then
    the layouts Keras leaves in its cache), how to tell one is there, how to read it, and the
    ``keras.datasets`` module that downloads it."""

    keras_name: str
    #: The file names, for messages.
    expected: str
    candidates: Callable[[Path], list[Path]]
    #: Whether a candidate holds the data; a dataset's name taken by the wrong kind of thing (a
    #: folder called ``mnist.npz``) raises UserError rather than falling back to synthetic data.
    present: Callable[[Path], bool]
    read: Callable[[Path], tuple[np.ndarray, np.ndarray]]
    #: The files read from a folder candidate (a file candidate is the one file read).
    members: tuple[str, ...] = ()


#: Folders a CIFAR-10 download may be extracted into, by the Keras versions that write them:
#: Keras 2 and early Keras 3 (``get_file("cifar-10-batches-py", untar=True)``) extract
#: ``cifar-10-batches-py/`` beside the tarball; later Keras 3 (``get_file("cifar-10-batches-py-target",
#: extract=True)``) extracts into ``cifar-10-batches-py-target/`` (3.15) or, in releases that
#: extracted beside the archive, ``cifar-10-batches-py-target_extracted/``, each holding
#: ``cifar-10-batches-py/``; ``--data-dir`` may hold the published tarball's folder directly.
CIFAR_EXTRACTED_ROOTS = (
    "cifar-10-batches-py-target",
    "cifar-10-batches-py-target_extracted",
    "cifar-10-batches-py_extracted",
)
#: Names the downloaded tarball is kept under: as published, by Keras 2, and by Keras 3's
#: ``get_file`` (``<fname>_archive`` when it extracts into ``<fname>/``; ``<fname>`` itself in the
#: releases that extracted beside it).
CIFAR_ARCHIVES = (
    CIFAR_TARBALL,
    "cifar-10-batches-py.tar.gz",
    "cifar-10-batches-py-target_archive",
    "cifar-10-batches-py-target",
)


def _cifar_candidates(directory: Path) -> list[Path]:
    """Every place a CIFAR-10 copy may be under ``directory``: extracted folders first (no
    decompression), then archives."""
    folders = [directory / CIFAR_DIR] + [directory / root / CIFAR_DIR for root in CIFAR_EXTRACTED_ROOTS]
    return folders + [directory / name for name in CIFAR_ARCHIVES]


def _cifar_present(candidate: Path) -> bool:
    """Whether ``candidate`` holds CIFAR-10: a folder named ``cifar-10-batches-py`` holding batches,
    or an archive file. A name Keras uses for a folder in one version and a file in another
    (``cifar-10-batches-py-target``) is taken as either; a name only ever used for one kind, taken
    by the other, raises UserError rather than falling back to synthetic data."""
    if candidate.name == CIFAR_DIR:
        return _is(candidate, directory=True) and any((candidate / b).exists() for b in CIFAR_BATCHES)
    if candidate.is_dir() and candidate.name in CIFAR_EXTRACTED_ROOTS:
        return False  # Keras 3.15's extraction folder: its cifar-10-batches-py/ is a candidate of its own
    return _is(candidate, directory=False)


DATASET_FILES: dict[str, DatasetFiles] = {
    "mnist": DatasetFiles(
        keras_name="mnist",
        expected="mnist.npz",
        candidates=lambda directory: [directory / "mnist.npz"],
        present=lambda candidate: _is(candidate, directory=False),
        read=read_mnist_npz,
    ),
    "fashion_mnist": DatasetFiles(
        keras_name="fashion_mnist",
        expected=f"{FASHION_IMAGES} and {FASHION_LABELS}",
        candidates=lambda directory: [directory / "fashion-mnist", directory],
        present=lambda candidate: any(
            _is(candidate / name, directory=False) for name in (FASHION_IMAGES, FASHION_LABELS)
        ),
        read=read_fashion_idx,
        members=(FASHION_IMAGES, FASHION_LABELS),
    ),
    "cifar10": DatasetFiles(
        keras_name="cifar10",
        expected=f"{CIFAR_TARBALL} or {CIFAR_DIR}/",
        candidates=_cifar_candidates,
        present=_cifar_present,
        read=read_cifar10,
        members=CIFAR_BATCHES,
    ),
}


def read_real(spec: ModelSpec, path: Path) -> TrainData:
    """Read and validate ``spec``'s training set at ``path`` (a file or directory from find_data)."""
    images, labels = DATASET_FILES[spec.name].read(path)
    validate(images, labels, spec, path)
    notes = []
    if labels.shape[0] != spec.train_examples:
        notes.append(
            f"{path} holds {labels.shape[0]} training examples, the published {spec.dataset} has "
            f"{spec.train_examples}: epoch times are not comparable with full-set runs"
        )
    files = [path] if not path.is_dir() else [path / name for name in DATASET_FILES[spec.name].members]
    return TrainData(
        images,
        labels,
        source="real",
        reason=f"read from {path}",
        path=str(path),
        notes=notes,
        files=[str(file) for file in files],
    )


def synthetic(spec: ModelSpec, seed: int, examples: int | None = None) -> TrainData:
    """Seeded random data with the real set's shapes, dtypes and (by default) example count."""
    count = spec.train_examples if examples is None else examples
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(count, *spec.input_shape), dtype=np.uint8)
    labels = rng.integers(0, spec.classes, size=count, dtype=np.uint8)
    return TrainData(images, labels, source="synthetic", reason="")


def _download(spec: ModelSpec, quiet: bool = False) -> str | None:
    """Fetch through Keras into its cache; returns None on success, else why it failed. Keras' own
    lines (``Downloading data from …`` and its progress bar) go to stderr, or nowhere when ``quiet``."""
    if os.environ.get(NO_DOWNLOAD_ENV):
        return f"downloads are off (${NO_DOWNLOAD_ENV} is set)"
    try:
        import keras

        # Keras prints its download progress on stdout; stdout is for the result (--format json).
        with contextlib.redirect_stdout(io.StringIO() if quiet else sys.stderr):
            getattr(keras.datasets, DATASET_FILES[spec.name].keras_name).load_data()
    except Exception as error:  # any network or file error means: not available
        return f"download failed: {_reason(error)}"
    return None


def load_train_data(
    spec: ModelSpec,
    mode: str = "auto",
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
    download: bool = True,
    quiet: bool = False,
) -> TrainData:
    """The training set for ``spec`` under ``mode`` (``auto``, ``real`` or ``synthetic``).

    ``auto`` uses real data when it is found (or downloaded) and otherwise synthetic data, saying
    why in ``reason``. A file that is found but damaged is an error in every mode: falling back
    would hide it. ``quiet`` keeps Keras' download lines off stderr too.

    Raises:
        UserError: bad mode, damaged file, or (``real``) data not to be had.
    """
    if mode not in DATA_MODES:
        raise UserError(f"--data {mode!r}: choose one of {', '.join(DATA_MODES)}")
    if data_dir is not None and not Path(data_dir).is_dir():
        raise UserError(f"--data-dir {data_dir}: no such directory")
    if mode == "synthetic":
        data = synthetic(spec, seed)
        data.reason = "chosen with --data synthetic"
        return data
    dirs = search_dirs(data_dir)
    path = find_data(spec, dirs)
    why_missing = None
    if path is None:
        why_missing = _download(spec, quiet) if download else "downloads are off (--no-download)"
        # Keras' load_data may fail after its download is in the cache (its reader expects the
        # full published set); what was written is still read, and checked, by our own readers.
        path = find_data(spec, dirs) if download else None
        if path is None and why_missing is None:
            why_missing = "download finished but the files are not in the Keras cache"
    if path is not None:
        return read_real(spec, path)
    looked_in = ", ".join(str(d) for d in dirs)
    if mode == "real":
        raise UserError(
            f"{spec.dataset} not found in {looked_in} ({why_missing}): put {expected_files(spec)} "
            f"there, pass --data-dir, or use --data synthetic"
        )
    data = synthetic(spec, seed)
    data.reason = f"{spec.dataset} not found in {looked_in} and {why_missing}; fell back to synthetic data"
    return data


def _reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
