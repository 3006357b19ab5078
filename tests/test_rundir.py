from __future__ import annotations

import datetime

from tfprof_m1.run.rundir import make_run_dir, run_dir_name


def test_names_say_model_device_and_time():
    started = datetime.datetime(2026, 11, 28, 14, 4, 14)
    assert run_dir_name("cifar10", "cpu", started) == "cifar10-cpu-20261128-140414"
    assert run_dir_name("mnist", "metal:Apple M1 Pro", started) == "mnist-metal_Apple_M1_Pro-20261128-140414"


def test_an_existing_directory_is_never_reused(tmp_path):
    first = make_run_dir(tmp_path / "runs", "m-cpu-1")
    (first / "keep.txt").write_text("mine")
    second = make_run_dir(tmp_path / "runs", "m-cpu-1")
    third = make_run_dir(tmp_path / "runs", "m-cpu-1")
    assert [first.name, second.name, third.name] == ["m-cpu-1", "m-cpu-1-2", "m-cpu-1-3"]
    assert (first / "keep.txt").read_text() == "mine"
