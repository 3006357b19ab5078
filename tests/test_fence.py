"""Fence choice from recorded device details, and the fences themselves on real TensorFlow."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfprof_m1.collection.fence import (
    HOST_READ,
    SYNC_DEVICES,
    HostReadFence,
    SyncDevicesFence,
    detect_fence_kind,
    make_fence,
    measure_fence_cost,
    select_fence_kind,
)

pytestmark = [pytest.mark.tf]

# What tf.config.experimental.get_device_details returned: a Colab T4 (CUDA) reports its compute
# capability; a PluggableDevice (tensorflow-metal) reports no compute capability.
COLAB_T4 = {"compute_capability": (7, 5), "device_name": "Tesla T4"}
METAL = {"device_name": "METAL"}


@pytest.mark.parametrize(
    "details, cuda, rocm, expected",
    [
        ([], True, False, HOST_READ),  # CPU only, CUDA build (this machine, Colab CPU)
        ([COLAB_T4], True, False, SYNC_DEVICES),
        ([COLAB_T4, COLAB_T4], True, False, SYNC_DEVICES),
        ([METAL], False, False, HOST_READ),  # macOS build: no CUDA, Metal plugin
        ([COLAB_T4, METAL], True, False, HOST_READ),  # a mix: sync_devices would miss the Metal queue
        ([{}], True, False, HOST_READ),  # details could not be read
    ],
)
def test_fence_choice(details, cuda, rocm, expected):
    assert select_fence_kind(details, cuda, rocm) == expected


def test_the_fence_chosen_is_the_rule_applied_to_the_gpus_tensorflow_lists():
    """On any machine: read the GPUs' details here, independently, and apply the rule."""
    details = [
        tf.config.experimental.get_device_details(gpu) for gpu in tf.config.list_physical_devices("GPU")
    ]
    expected = select_fence_kind(details, tf.test.is_built_with_cuda(), tf.test.is_built_with_rocm())
    assert detect_fence_kind() == expected
    assert expected == HOST_READ or details  # sync_devices only ever for GPUs


def test_host_read_fence_reads_what_it_is_given_or_the_default_probe():
    probes = []
    variable = keras.Variable(np.ones((3, 4), dtype="float32"))

    def probe():
        probes.append(1)
        return variable

    fence = make_fence(HOST_READ, probe)
    assert isinstance(fence, HostReadFence) and fence.name == "host_read"
    fence()
    fence(tf.constant(2.0))
    fence([tf.zeros((5, 5)), tf.ones((2, 3))])
    fence(tf.Variable(tf.zeros((2, 2))))
    assert len(probes) == 1  # only the call that named no tensor used the probe


def test_sync_devices_fence_runs_through_tensorflow():
    fence = make_fence(SYNC_DEVICES, lambda: None)
    assert isinstance(fence, SyncDevicesFence)
    fence(tf.constant(1.0))  # on CPU the SyncDevice op exists and returns at once


def test_fence_cost_is_measured_per_call():
    now = [0.0]

    def clock():
        return now[0]

    def fence():
        now[0] += 0.002

    cost = measure_fence_cost(fence, calls=10, clock=clock, name="fake")
    assert cost.name == "fake" and cost.calls == 10
    assert cost.median_ms == pytest.approx(2.0)
    assert cost.iqr_ms == pytest.approx(0.0)


def test_unknown_fence_kind_is_rejected():
    with pytest.raises(ValueError):
        make_fence("magic", lambda: None)
