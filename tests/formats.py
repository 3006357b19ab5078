"""Writers for tiny datasets in the exact published formats the real loaders read."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np


def learnable_images(count: int, shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images whose class is written as a bright horizontal band: a model can learn it."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=count).astype(np.uint8)
    images = rng.integers(0, 60, size=(count, *shape), dtype=np.uint8)
    band = shape[0] // 10
    for index, label in enumerate(labels):
        images[index, label * band : (label + 1) * band] = 250
    return images, labels


def write_mnist_npz(directory: Path, images: np.ndarray, labels: np.ndarray, **overrides) -> Path:
    arrays = {"x_train": images, "y_train": labels, "x_test": images[:10], "y_test": labels[:10], **overrides}
    arrays = {key: value for key, value in arrays.items() if value is not None}
    path = directory / "mnist.npz"
    np.savez_compressed(path, **arrays)
    return path


def idx_bytes(array: np.ndarray) -> bytes:
    header = b"\x00\x00\x08" + bytes([array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_fashion_idx(directory: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    target = directory / "fashion-mnist"
    target.mkdir(parents=True, exist_ok=True)
    for name, array in (
        ("train-images-idx3-ubyte.gz", images),
        ("train-labels-idx1-ubyte.gz", labels),
        ("t10k-images-idx3-ubyte.gz", images[:10]),
        ("t10k-labels-idx1-ubyte.gz", labels[:10]),
    ):
        with gzip.open(target / name, "wb") as stream:
            stream.write(idx_bytes(array))
    return target


def cifar_batch_bytes(images: np.ndarray, labels: np.ndarray) -> bytes:
    """A CIFAR-10 python batch: channel-major rows of 3072 bytes, labels as a list (as published).

    Protocol 4 names the same globals as the published Python 2 pickles (numpy's ``_reconstruct``,
    ``ndarray`` and ``dtype``, the array's bytes inline), so Keras' own restricted unpickler reads
    it too; Python 3's protocol 2 would add ``_codecs.encode``, which Keras refuses."""
    rows = images.transpose(0, 3, 1, 2).reshape(len(images), 3072)
    return pickle.dumps(
        {
            b"batch_label": b"training batch",
            b"labels": [int(v) for v in labels],
            b"data": rows,
            b"filenames": [b"x.png"] * len(labels),
        },
        protocol=4,
    )


def write_cifar_tarball(
    directory: Path, images: np.ndarray, labels: np.ndarray, skip: str | None = None
) -> Path:
    path = directory / "cifar-10-python.tar.gz"
    parts = np.array_split(np.arange(len(labels)), 5)
    with tarfile.open(path, "w:gz") as archive:
        members = {
            f"data_batch_{i + 1}": cifar_batch_bytes(images[idx], labels[idx]) for i, idx in enumerate(parts)
        }
        members["test_batch"] = cifar_batch_bytes(images[:10], labels[:10])
        for name, payload in members.items():
            if name == skip:
                continue
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return path


def write_cifar_dir(directory: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    target = directory / "cifar-10-batches-py"
    target.mkdir(parents=True, exist_ok=True)
    for i, idx in enumerate(np.array_split(np.arange(len(labels)), 5)):
        (target / f"data_batch_{i + 1}").write_bytes(cifar_batch_bytes(images[idx], labels[idx]))
    (target / "test_batch").write_bytes(cifar_batch_bytes(images[:10], labels[:10]))
    return target
