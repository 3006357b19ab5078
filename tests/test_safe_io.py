"""Readers read bounded regular files only; writers never replace anything but a regular file, nor an
input of the same run. Special files are made here (FIFOs, symbolic links, device nodes where
``mknod`` is allowed) and left exactly as they were."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli
from tfprof_m1.base.errors import UserError
from tfprof_m1.base.files import write_atomic, written
from tfprof_m1.base.safe_io import check_output_dir, check_output_file, read_bounded, refuse_inputs

FIXTURE = REPO / "tests" / "fixtures" / "report_schema5.json"
posix_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and /dev are POSIX things")


def _kind(path: Path) -> str:
    return stat.filemode(os.lstat(path).st_mode)[0]


@posix_only
def test_read_bounded_reads_regular_files_and_refuses_everything_else_at_once(tmp_path):
    good = tmp_path / "good"
    good.write_bytes(b"x" * 100)
    assert read_bounded(good, 100) == b"x" * 100
    with pytest.raises(UserError, match=r"0\.0 MiB is larger than any file \(0 MiB at most\)"):
        read_bounded(good, 99)
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(UserError, match="is a FIFO"):
        read_bounded(tmp_path / "fifo", 100)  # opened without blocking: no writer, no hang
    (tmp_path / "zero").symlink_to("/dev/zero")
    with pytest.raises(UserError, match="is a character device"):
        read_bounded(tmp_path / "zero", 2**30)
    with pytest.raises(UserError, match="is a directory"):
        read_bounded(tmp_path, 100)
    with pytest.raises(FileNotFoundError):
        read_bounded(tmp_path / "absent", 100)


@posix_only
def test_output_paths_that_are_not_regular_files_are_refused_and_left_alone(tmp_path):
    (tmp_path / "stdout").symlink_to("/proc/self/fd/1")
    os.mkfifo(tmp_path / "fifo.json")
    (tmp_path / "folder").mkdir()
    cases = {
        "stdout": "is a symbolic link to /proc/self/fd/1",
        "fifo.json": "is a FIFO",
        "folder": "is a directory",
    }
    for name, expected in cases.items():
        before = _kind(tmp_path / name)
        with pytest.raises(UserError, match=expected):
            check_output_file("--json", tmp_path / name)
        with pytest.raises(FileExistsError):  # the writer itself refuses too (a path that changed since)
            write_atomic(tmp_path / name, "{}")
        assert _kind(tmp_path / name) == before
    with pytest.raises(UserError, match="ends in '/'"):
        check_output_file("--json", f"{tmp_path}/new/")
    with pytest.raises(UserError, match="give a file name"):
        check_output_file("--json", " ")
    assert check_output_file("--json", tmp_path / "new.json") == tmp_path / "new.json"
    assert not (tmp_path / "new.json").exists()  # checked, not created
    write_atomic(tmp_path / "new.json", "{}")
    assert str(tmp_path / "new.json") in written()


def test_an_output_that_is_an_input_of_the_run_is_refused_by_any_of_its_names(tmp_path):
    data = tmp_path / "mnist.npz"
    data.write_bytes(b"data")
    (tmp_path / "alias.npz").symlink_to(data)
    os.link(data, tmp_path / "hardlink.npz")
    for name in ("mnist.npz", "alias.npz", "hardlink.npz"):
        with pytest.raises(UserError, match="is the run's own input"):
            refuse_inputs("--json", tmp_path / name, [str(data)])
    refuse_inputs("--json", tmp_path / "report.json", [str(data)])  # a new file beside it is fine


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")
def test_an_output_folder_where_none_can_be_made_is_refused_even_as_root(tmp_path):
    with pytest.raises(UserError, match="cannot create a folder in /proc"):
        check_output_dir("--logdir", "/proc/nope")
    check_output_dir("--logdir", tmp_path / "runs")
    assert list(tmp_path.iterdir()) == []  # the probe folder is removed


@posix_only
def test_the_cli_refuses_special_output_paths_before_training_and_leaves_them(tmp_path):
    (tmp_path / "stdout").symlink_to("/proc/self/fd/1")
    os.mkfifo(tmp_path / "chart.png")
    run = run_cli("mnist", "--data", "synthetic", "--json", str(tmp_path / "stdout"), cwd=tmp_path)
    plot = run_cli("plot", str(FIXTURE), "-o", str(tmp_path / "chart.png"), cwd=tmp_path)
    for result, expected in ((run, "is a symbolic link"), (plot, "is a FIFO")):
        assert result.returncode == 2 and result.stderr.count("\n") == 1 and expected in result.stderr
    assert (tmp_path / "stdout").is_symlink() and _kind(tmp_path / "chart.png") == "p"
    assert not (tmp_path / "runs").exists()  # refused before anything was made
    try:
        os.mknod(tmp_path / "null.json", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except (PermissionError, OSError):
        return  # mknod needs privileges here
    device = run_cli("mnist", "--data", "synthetic", "--json", str(tmp_path / "null.json"), cwd=tmp_path)
    assert device.returncode == 2 and "is a character device" in device.stderr
    assert stat.S_ISCHR(os.lstat(tmp_path / "null.json").st_mode)


@pytest.mark.slow
def test_a_json_path_that_is_the_runs_own_dataset_is_refused_before_training(tmp_path):
    from tests.formats import learnable_images, write_mnist_npz

    data = write_mnist_npz(tmp_path, *learnable_images(96, (28, 28)))
    before = data.read_bytes()
    result = run_cli(
        "mnist", "--epochs", "1", "--steps", "2", "--no-fit", "--no-peak", "--no-trace", "--data", "real",
        "--data-dir", str(tmp_path), "--logdir", str(tmp_path / "runs"), "--json", str(data), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2 and "is the run's own input" in result.stderr
    assert "loop epoch" not in result.stderr  # before training
    assert data.read_bytes() == before
