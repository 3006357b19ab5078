"""Real loaders on tiny files written here in the published formats, and their damaged variants."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from tests.formats import (
    idx_bytes,
    learnable_images,
    write_cifar_dir,
    write_cifar_tarball,
    write_fashion_idx,
    write_mnist_npz,
)
from tfprof_m1.base.errors import UserError
from tfprof_m1.workloads.datasets import find_data, keras_cache_dir, load_train_data
from tfprof_m1.workloads.models import get_spec

pytestmark = [pytest.mark.tf]

MNIST, FASHION, CIFAR = get_spec("mnist"), get_spec("fashion_mnist"), get_spec("cifar10")


def _assert_same(data, images, labels):
    assert data.source == "real"
    assert data.images.dtype == np.uint8
    np.testing.assert_array_equal(data.images, images)
    np.testing.assert_array_equal(data.labels, labels)


def test_mnist_npz_is_read_and_the_count_difference_is_noted(tmp_path):
    images, labels = learnable_images(50, (28, 28))
    path = write_mnist_npz(tmp_path, images, labels)
    data = load_train_data(MNIST, "real", tmp_path)
    _assert_same(data, images, labels)
    assert data.path == str(path)
    assert "holds 50 training examples" in data.notes[0] and "60000" in data.notes[0]


def test_fashion_idx_files_are_read(tmp_path):
    images, labels = learnable_images(40, (28, 28), seed=2)
    write_fashion_idx(tmp_path, images, labels)
    _assert_same(load_train_data(FASHION, "real", tmp_path), images, labels)


@pytest.mark.parametrize("writer", [write_cifar_tarball, write_cifar_dir])
def test_cifar10_tarball_and_directory_are_read_in_channel_last_order(tmp_path, writer):
    images, labels = learnable_images(25, (32, 32, 3), seed=3)
    images[0, 0, 0] = [1, 2, 3]  # distinct channels catch a wrong transpose
    writer(tmp_path, images, labels)
    data = load_train_data(CIFAR, "real", tmp_path)
    _assert_same(data, images, labels)


def test_data_dir_comes_before_the_keras_cache(tmp_path):
    cache = keras_cache_dir()
    cache.mkdir(parents=True)
    write_mnist_npz(cache, *learnable_images(20, (28, 28), seed=5))
    assert find_data(MNIST, [cache]) == cache / "mnist.npz"
    mine = tmp_path / "mine"
    mine.mkdir()
    images, labels = learnable_images(30, (28, 28), seed=6)
    write_mnist_npz(mine, images, labels)
    _assert_same(load_train_data(MNIST, "real", mine), images, labels)
    assert load_train_data(MNIST, "real").examples == 20  # without --data-dir: the Keras cache


def _keras_downloads_from(monkeypatch, source: Path) -> None:
    """Keras' own ``load_data`` calls ``get_file`` exactly as they do on a network, with the origin
    redirected to ``file://`` copies in ``source`` (named as the origin's last part) and the cache
    placed where tfprof_m1 looks for it; the published files' hashes do not fit the tiny copies."""
    import keras.src.datasets.cifar10
    import keras.src.datasets.fashion_mnist
    import keras.src.datasets.mnist
    from keras.src.utils.file_utils import get_file

    def local_get_file(fname=None, origin=None, file_hash=None, **kwargs):
        local = source / origin.rstrip("/").rsplit("/", 1)[-1]
        kwargs["cache_dir"] = str(keras_cache_dir().parent)
        return get_file(fname=fname, origin=local.as_uri(), **kwargs)

    for module in (keras.src.datasets.cifar10, keras.src.datasets.fashion_mnist, keras.src.datasets.mnist):
        monkeypatch.setattr(module, "get_file", local_get_file)
    monkeypatch.delenv("TFPROF_M1_NO_DOWNLOAD")


@pytest.mark.parametrize("spec", [MNIST, FASHION, CIFAR], ids=lambda spec: spec.name)
def test_what_the_installed_keras_downloads_is_read_as_keras_reads_it(tmp_path, monkeypatch, spec):
    """The Colab path: no copy anywhere, so tfprof_m1 downloads through Keras, then reads whatever
    layout the installed Keras left in its cache; the images and labels are those Keras' own
    ``load_data`` returns from the same cache."""
    import keras

    source = tmp_path / "published"
    source.mkdir()
    shape = spec.input_shape
    images, labels = learnable_images(25, shape, seed=7)
    if spec is MNIST:
        write_mnist_npz(source, images, labels)
    elif spec is FASHION:
        for path in write_fashion_idx(source, images, labels).iterdir():
            path.rename(source / path.name)
    else:
        write_cifar_tarball(source, images, labels)
    _keras_downloads_from(monkeypatch, source)
    data = load_train_data(spec, "real")
    _assert_same(data, images, labels)
    assert Path(data.path).is_relative_to(keras_cache_dir())
    if spec is CIFAR:  # Keras' load_data insists on 10,000 images a batch: its batch reader, then
        from keras.src.datasets.cifar import load_batch

        batches = [load_batch(str(Path(data.path) / f"data_batch_{i}")) for i in range(1, 6)]
        keras_x = np.concatenate([x for x, _ in batches]).transpose(0, 2, 3, 1)
        keras_y = np.concatenate([y for _, y in batches])
    else:
        (keras_x, keras_y), _ = getattr(keras.datasets, spec.name).load_data()  # from the cache
    np.testing.assert_array_equal(data.images, keras_x)
    np.testing.assert_array_equal(data.labels, keras_y)


# Where each Keras version leaves CIFAR-10 (see CIFAR_EXTRACTED_ROOTS and CIFAR_ARCHIVES).
CIFAR_LAYOUTS = {
    "keras2 folder": ("cifar-10-batches-py", "folder"),
    "keras3 _extracted folder": ("cifar-10-batches-py-target_extracted/cifar-10-batches-py", "folder"),
    "keras3.15 folder": ("cifar-10-batches-py-target/cifar-10-batches-py", "folder"),
    "keras2 archive": ("cifar-10-batches-py.tar.gz", "archive"),
    "keras3 archive": ("cifar-10-batches-py-target", "archive"),
    "keras3.15 archive": ("cifar-10-batches-py-target_archive", "archive"),
    "published archive": ("cifar-10-python.tar.gz", "archive"),
}


@pytest.mark.parametrize("layout", CIFAR_LAYOUTS, ids=list(CIFAR_LAYOUTS))
def test_every_keras_cifar_cache_layout_is_found(tmp_path, layout):
    name, kind = CIFAR_LAYOUTS[layout]
    cache = keras_cache_dir()
    images, labels = learnable_images(10, (32, 32, 3))
    target = cache / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if kind == "folder":
        written = write_cifar_dir(target.parent, images, labels)
        assert written == target
    else:
        write_cifar_tarball(tmp_path, images, labels).rename(target)
    data = load_train_data(CIFAR, "auto", download=False)
    _assert_same(data, images, labels)
    assert data.path == str(target)


def test_an_extracted_cifar_folder_comes_before_the_archive_beside_it(tmp_path):
    """Keras 3.15 leaves both; the folder needs no decompression."""
    cache = keras_cache_dir()
    (cache / "cifar-10-batches-py-target").mkdir(parents=True)
    write_cifar_dir(cache / "cifar-10-batches-py-target", *learnable_images(10, (32, 32, 3)))
    write_cifar_tarball(tmp_path, *learnable_images(10, (32, 32, 3))).rename(
        cache / "cifar-10-batches-py-target_archive"
    )
    data = load_train_data(CIFAR, "real", download=False)
    assert data.path == str(cache / "cifar-10-batches-py-target" / "cifar-10-batches-py")


def test_an_empty_keras_extraction_folder_is_not_data(tmp_path):
    (keras_cache_dir() / "cifar-10-batches-py-target" / "cifar-10-batches-py").mkdir(parents=True)
    assert load_train_data(CIFAR, "auto", download=False).source == "synthetic"


def test_auto_falls_back_to_synthetic_and_says_why(tmp_path):
    data = load_train_data(CIFAR, "auto", tmp_path, seed=1)
    assert data.source == "synthetic"
    assert "CIFAR-10 not found" in data.reason and str(tmp_path) in data.reason and "fell back" in data.reason
    assert data.images.shape == (50_000, 32, 32, 3) and data.images.dtype == np.uint8
    assert data.labels.shape == (50_000,) and data.labels.max() == 9


def test_synthetic_is_seeded_with_the_real_shapes():
    first = load_train_data(MNIST, "synthetic", seed=1)
    again = load_train_data(MNIST, "synthetic", seed=1)
    assert first.images.shape == (60_000, 28, 28)
    assert first.reason == "chosen with --data synthetic"
    np.testing.assert_array_equal(first.images[:100], again.images[:100])


def test_real_mode_without_data_is_one_clear_error(tmp_path):
    with pytest.raises(UserError) as error:
        load_train_data(FASHION, "real", tmp_path)
    message = str(error.value)
    assert "\n" not in message
    assert (
        "Fashion-MNIST not found" in message
        and "train-images-idx3-ubyte.gz" in message
        and "--data synthetic" in message
    )


def _damage_truncated_gzip(tmp_path):
    write_fashion_idx(tmp_path, *learnable_images(20, (28, 28)))
    path = tmp_path / "fashion-mnist" / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-40])
    return FASHION, path, "not a readable gzip"


def _damage_idx_size(tmp_path):
    write_fashion_idx(tmp_path, *learnable_images(20, (28, 28)))
    path = tmp_path / "fashion-mnist" / "train-images-idx3-ubyte.gz"
    images, _ = learnable_images(19, (28, 28))
    payload = idx_bytes(images)
    payload = payload[:4] + (20).to_bytes(4, "big") + payload[8:]  # header says 20 images, data holds 19
    with gzip.open(path, "wb") as stream:
        stream.write(payload)
    return FASHION, path, "header promises"


def _damage_idx_magic(tmp_path):
    write_fashion_idx(tmp_path, *learnable_images(20, (28, 28)))
    path = tmp_path / "fashion-mnist" / "train-labels-idx1-ubyte.gz"
    with gzip.open(path, "wb") as stream:
        stream.write(b"PK\x03\x04 not idx")
    return FASHION, path, "bad magic"


def _damage_label_range(tmp_path):
    images, labels = learnable_images(20, (28, 28))
    labels[3] = 12
    return MNIST, write_mnist_npz(tmp_path, images, labels), "labels range over 0..12"


def _damage_npz_key(tmp_path):
    images, labels = learnable_images(20, (28, 28))
    return MNIST, write_mnist_npz(tmp_path, images, labels, y_train=None), "no y_train"


def _damage_npz_truncated(tmp_path):
    path = write_mnist_npz(tmp_path, *learnable_images(20, (28, 28)))
    path.write_bytes(path.read_bytes()[:100])
    return MNIST, path, "cannot be read"


def _damage_npz_dtype(tmp_path):
    images, labels = learnable_images(20, (28, 28))
    return MNIST, write_mnist_npz(tmp_path, images.astype(np.float32), labels), "expected uint8"


def _damage_tar_member(tmp_path):
    path = write_cifar_tarball(tmp_path, *learnable_images(10, (32, 32, 3)), skip="data_batch_4")
    return CIFAR, path, "has no cifar-10-batches-py/data_batch_4"


def _damage_tar_truncated(tmp_path):
    path = write_cifar_tarball(tmp_path, *learnable_images(10, (32, 32, 3)))
    path.write_bytes(path.read_bytes()[:300])
    return CIFAR, path, ""


def _damage_cifar_pickle(tmp_path):
    directory = write_cifar_dir(tmp_path, *learnable_images(10, (32, 32, 3)))
    (directory / "data_batch_2").write_bytes(b"\x80\x02}q\x00(U\x04data")
    return CIFAR, directory / "data_batch_2", "not a readable CIFAR-10 batch"


@pytest.mark.parametrize(
    "damage",
    [
        _damage_truncated_gzip,
        _damage_idx_size,
        _damage_idx_magic,
        _damage_label_range,
        _damage_npz_key,
        _damage_npz_truncated,
        _damage_npz_dtype,
        _damage_tar_member,
        _damage_tar_truncated,
        _damage_cifar_pickle,
    ],
)
@pytest.mark.parametrize("mode", ["real", "auto"])
def test_damaged_files_give_one_line_naming_the_file(tmp_path, damage, mode):
    spec, path, expected = damage(tmp_path)
    with pytest.raises(UserError) as error:
        load_train_data(spec, mode, tmp_path)
    message = str(error.value)
    assert "\n" not in message
    assert str(path) in message
    assert expected in message


def test_bad_mode_and_missing_data_dir_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="--data 'fake'"):
        load_train_data(MNIST, "fake")
    with pytest.raises(UserError, match="no such directory"):
        load_train_data(MNIST, "real", tmp_path / "absent")


class _RunsCode:
    """What a crafted pickle does: name os.system as the function to call on load."""

    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_cifar_pickle_runs_no_code_and_is_refused_in_one_line(tmp_path):
    import pickle

    images, labels = learnable_images(25, (32, 32, 3), seed=3)
    write_cifar_dir(tmp_path, images, labels)
    marker = tmp_path / "code-ran"
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(pickle.dumps({b"data": _RunsCode(marker), b"labels": [0]}))
    with pytest.raises(
        UserError, match=r"data_batch_3: refused: the file asks to load posix\.system"
    ) as error:
        load_train_data(CIFAR, "real", tmp_path)
    assert "\n" not in str(error.value)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 5])
def test_cifar_batches_pickled_with_any_protocol_are_read(tmp_path, protocol):
    """Protocol 2 is what the published (Python 2) files use; 5 is Python 3's default."""
    import pickle

    images, labels = learnable_images(25, (32, 32, 3), seed=4)
    target = write_cifar_dir(tmp_path, images, labels)
    for index in range(1, 6):
        path = target / f"data_batch_{index}"
        path.write_bytes(pickle.dumps(pickle.loads(path.read_bytes()), protocol=protocol))
    _assert_same(load_train_data(CIFAR, "real", tmp_path), images, labels)


def test_an_idx_header_promising_more_than_the_file_can_hold_is_refused_before_inflating(tmp_path):
    """A 1 MB gzip of zeros (a gzip bomb) whose header promises 1.3 M images: refused from the header,
    and no more than the promised bytes are ever inflated."""
    import resource

    directory = tmp_path / "fashion-mnist"
    directory.mkdir()
    promised = (0x0803).to_bytes(4, "big") + (1_300_000).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    with gzip.open(directory / "train-images-idx3-ubyte.gz", "wb") as stream:
        stream.write(promised)
        stream.write(bytes(64 * 2**20))  # inflates to 64 MiB from about 64 KB
    write_fashion_idx(tmp_path / "labels", *learnable_images(20, (28, 28)))
    (tmp_path / "labels" / "fashion-mnist" / "train-labels-idx1-ubyte.gz").rename(
        directory / "train-labels-idx1-ubyte.gz"
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(UserError, match="header promises shape .1300000, 28, 28. .* more than"):
        load_train_data(FASHION, "real", tmp_path)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024  # KiB: nothing near 1 GB


def test_a_folder_where_the_dataset_file_should_be_is_an_error_not_a_synthetic_fallback(tmp_path):
    (tmp_path / "mnist.npz").mkdir()
    with pytest.raises(UserError, match=r"mnist.npz: is a directory, expected a file"):
        load_train_data(MNIST, "auto", tmp_path, download=False)
    (tmp_path / "cifar-10-batches-py").write_text("not a folder")
    with pytest.raises(UserError, match=r"cifar-10-batches-py: is a file, expected a directory"):
        load_train_data(CIFAR, "auto", tmp_path, download=False)


@pytest.mark.parametrize("quiet", [False, True])
def test_keras_download_lines_go_to_stderr_or_nowhere_under_quiet(tmp_path, monkeypatch, capfd, quiet):
    """Keras prints "Downloading data from ..." and a progress bar on stdout; stdout is the result's
    (--format json), so they go to stderr, and under --quiet nowhere."""
    source = tmp_path / "published"
    source.mkdir()
    write_mnist_npz(source, *learnable_images(20, (28, 28)))
    _keras_downloads_from(monkeypatch, source)
    assert load_train_data(MNIST, "real", quiet=quiet).source == "real"
    out, err = capfd.readouterr()
    assert "Downloading data from" not in out
    assert ("Downloading data from" in err) is not quiet
