"""Machine facts and device labels, from details recorded on real machines."""

from __future__ import annotations

import pytest

from tfprof_m1.collection.machine import cpu_model, device_label, installed_version, memory_gb, on_colab

# get_device_details as recorded: a Colab T4 reports a name and a compute capability; Metal GPUs
# report no compute capability (and at most a generic name).
T4 = {"device_name": "Tesla T4", "compute_capability": (7, 5)}
METAL_GENERIC = {"device_name": "METAL"}


@pytest.mark.parametrize(
    "kind, gpus, system, metal, cpu, expected",
    [
        ("cpu", [], "Linux", None, "AMD EPYC", "cpu"),
        ("cpu", [T4], "Linux", None, None, "cpu"),  # --device cpu on a GPU machine
        ("gpu", [T4], "Linux", None, None, "cuda:Tesla T4"),
        ("gpu", [METAL_GENERIC], "Darwin", "1.2.0", "Apple M1 Pro", "metal:Apple M1 Pro"),
        ("gpu", [{}], "Darwin", "1.2.0", None, "metal:Apple GPU"),
        ("gpu", [{"device_name": "AMD Radeon"}], "Linux", None, None, "gpu:AMD Radeon"),
    ],
)
def test_device_label(kind, gpus, system, metal, cpu, expected):
    assert device_label(kind, gpus, system, metal, cpu) == expected


def test_colab_detection():
    assert on_colab({"COLAB_RELEASE_TAG": "release-colab_20261101"}, {})
    assert on_colab({}, {"google.colab": object()})
    assert not on_colab({"HOME": "/root"}, {})


def test_this_machine_is_described():
    assert cpu_model()  # /proc/cpuinfo names it here
    memory = memory_gb()
    assert memory is not None and memory > 1
    assert installed_version("tensorflow") is not None
    assert installed_version("tensorflow-metal") is None  # Apple Silicon only
