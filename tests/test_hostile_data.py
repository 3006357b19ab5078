"""Damaged and hostile dataset files written here: each is refused in one line naming the file and the
fault, before it can cost memory (measured with tracemalloc against what the file promises)."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
import tarfile
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from numpy.lib import format as npy

from tests.formats import cifar_batch_bytes, learnable_images, write_mnist_npz
from tfprof_m1.base.errors import UserError
from tfprof_m1.workloads.datasets import load_train_data
from tfprof_m1.workloads.models import get_spec

MNIST, FASHION, CIFAR = get_spec("mnist"), get_spec("fashion_mnist"), get_spec("cifar10")


def _cifar_with_first_batch(directory: Path, first: bytes) -> Path:
    """A CIFAR-10 tarball whose data_batch_1 is ``first`` and whose other batches are good."""
    images, labels = learnable_images(8, (32, 32, 3))
    path = directory / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for index in range(1, 6):
            payload = first if index == 1 else cifar_batch_bytes(images, labels)
            info = tarfile.TarInfo(f"cifar-10-batches-py/data_batch_{index}")
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return path


class _Allocates:
    """Pickles as a direct call of numpy.ndarray(shape, dtype): a global the published batches name."""

    def __init__(self, *args) -> None:
        self.args = args

    def __reduce__(self):
        return (np.ndarray, self.args)


def _blank_images_pickle(directory: Path) -> tuple[Path, int]:
    batch = {
        b"data": _Allocates((300_000, 3072), np.dtype("u1")),
        b"labels": _Allocates((300_000,), np.dtype("<i8")),
    }
    return _cifar_with_first_batch(directory, pickle.dumps(batch, protocol=2)), 300_000 * 3072


def _shared_nested_labels(directory: Path) -> tuple[Path, int]:
    labels: list = [0] * 10
    for _ in range(7):
        labels = [labels] * 10  # memo-shared: 10**8 integers in a few hundred bytes
    images, _ = learnable_images(8, (32, 32, 3))
    rows = images.transpose(0, 3, 1, 2).reshape(8, 3072)
    payload = pickle.dumps({b"data": rows, b"labels": labels}, protocol=2)
    return _cifar_with_first_batch(directory, payload), 10**8 * 8


def _npz_header_promises_a_million_images(directory: Path) -> tuple[Path, int]:
    path = directory / "mnist.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("x_train.npy", "w", force_zip64=True) as stream:
            npy.write_array_header_1_0(
                stream, {"descr": "|u1", "fortran_order": False, "shape": (10**6, 28, 28)}
            )
            for _ in range(100):
                stream.write(bytes(28 * 28 * 1000))  # a tenth of what the header promises, all zeros
        with archive.open("y_train.npy", "w") as stream:
            np.save(stream, np.zeros(96, np.uint8))
    return path, 10**6 * 28 * 28


@pytest.mark.parametrize(
    "spec, write, fault",
    [
        (CIFAR, _blank_images_pickle, "numpy.ndarray called directly"),
        (CIFAR, _shared_nested_labels, "labels are not a list of integers"),
        (MNIST, _npz_header_promises_a_million_images, "header promises shape (1000000, 28, 28)"),
    ],
    ids=["cifar-blank-images", "cifar-shared-labels", "npz-inflating-header"],
)
def test_hostile_files_are_refused_before_they_cost_what_they_promise(tmp_path, spec, write, fault):
    path, promised = write(tmp_path)
    tracemalloc.start()
    try:
        with pytest.raises(UserError) as error:
            load_train_data(spec, "real", tmp_path, download=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(error.value)
    assert "\n" not in message and str(path) in message and fault in message
    assert peak < promised / 20  # refused from the header or the first item, not after allocating


def _ragged_cifar_labels(directory: Path) -> tuple[Path, str]:
    images, labels = learnable_images(8, (32, 32, 3))
    rows = images.transpose(0, 3, 1, 2).reshape(8, 3072)
    ragged = [int(v) for v in labels]
    ragged[1] = [2, 3]
    path = _cifar_with_first_batch(directory, pickle.dumps({b"data": rows, b"labels": ragged}, protocol=2))
    return path, "labels are not a list of integers"


def _patched_npz(directory: Path, patch: str) -> Path:
    path = write_mnist_npz(directory, *learnable_images(20, (28, 28)))
    raw = bytearray(path.read_bytes())
    for signature, method_at, flags_at in ((b"PK\x03\x04", 8, 6), (b"PK\x01\x02", 10, 8)):
        position = 0
        while (position := raw.find(signature, position)) != -1:
            if patch == "method":
                raw[position + method_at : position + method_at + 2] = struct.pack("<H", 97)
            else:
                raw[position + flags_at] |= 1  # the "encrypted" flag
            position += 4
    path.write_bytes(bytes(raw))
    return path


def _npz_unknown_compression(directory: Path) -> tuple[Path, str]:
    return _patched_npz(directory, "method"), "compression method is not supported"


def _npz_encrypted(directory: Path) -> tuple[Path, str]:
    return _patched_npz(directory, "encrypted"), "cannot be read as an .npz archive (a member is encrypted)"


def _fashion_with_images_header(directory: Path, images: bytes) -> Path:
    target = directory / "fashion-mnist"
    target.mkdir()
    labels = b"\x00\x00\x08\x01" + struct.pack(">I", 20) + bytes(20)
    for name, payload in (("train-images-idx3-ubyte.gz", images), ("train-labels-idx1-ubyte.gz", labels)):
        with gzip.open(target / name, "wb") as stream:
            stream.write(payload)
    return target / "train-images-idx3-ubyte.gz"


def _idx_no_dimensions(directory: Path) -> tuple[Path, str]:
    return _fashion_with_images_header(
        directory, b"\x00\x00\x08\x00"
    ), "header gives 0 dimensions, expected 3"


def _idx_65_dimensions(directory: Path) -> tuple[Path, str]:
    header = b"\x00\x00\x08\x41" + struct.pack(">65I", *([1] * 65)) + b"\x07"
    return _fashion_with_images_header(directory, header), "header gives 65 dimensions, expected 3"


def _labels_idx_with_images_shape(directory: Path) -> tuple[Path, str]:
    target = directory / "fashion-mnist"
    target.mkdir()
    images = b"\x00\x00\x08\x03" + struct.pack(">3I", 20, 28, 28) + bytes(20 * 28 * 28)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        with gzip.open(target / name, "wb") as stream:
            stream.write(images)
    return target / "train-labels-idx1-ubyte.gz", "header gives 3 dimensions, expected 1 (labels)"


@pytest.mark.parametrize(
    "spec, write",
    [
        (CIFAR, _ragged_cifar_labels),
        (MNIST, _npz_unknown_compression),
        (MNIST, _npz_encrypted),
        (FASHION, _idx_no_dimensions),
        (FASHION, _idx_65_dimensions),
        (FASHION, _labels_idx_with_images_shape),
    ],
    ids=lambda value: getattr(value, "__name__", getattr(value, "name", "")),
)
def test_damaged_files_are_one_line_naming_the_file_and_the_fault(tmp_path, spec, write):
    path, fault = write(tmp_path)
    with pytest.raises(UserError) as error:
        load_train_data(spec, "real", tmp_path, download=False)
    message = str(error.value)
    assert "\n" not in message and str(path) in message and fault in message


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are a POSIX thing")
def test_a_fifo_or_a_link_to_a_device_where_a_dataset_file_should_be_is_refused_not_read(tmp_path):
    fifo = tmp_path / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / "mnist.npz")  # reading a FIFO with no writer would wait forever
    with pytest.raises(UserError, match=r"mnist.npz: is a FIFO \(named pipe\), not a regular file"):
        load_train_data(MNIST, "real", fifo, download=False)
    cifar = tmp_path / "cifar"
    directory = cifar / "cifar-10-batches-py"
    directory.mkdir(parents=True)
    for index in range(1, 6):
        (directory / f"data_batch_{index}").symlink_to("/dev/zero")
    with pytest.raises(UserError, match="data_batch_1: is a character device, not a regular file"):
        load_train_data(CIFAR, "real", cifar, download=False)


def test_a_good_npz_is_read_exactly_after_its_headers_are_checked(tmp_path):
    images, labels = learnable_images(20, (28, 28))
    write_mnist_npz(tmp_path, images, labels)
    data = load_train_data(MNIST, "real", tmp_path, download=False)
    assert np.array_equal(data.images, images) and np.array_equal(data.labels, labels)
    assert data.files == [str(tmp_path / "mnist.npz")]
