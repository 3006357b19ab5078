"""The xplane reader on XSpaces built here: device planes, host-only ops, missing device planes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO, run_cli
from tfprof_m1.base.errors import UserError
from tfprof_m1.trace.steps import SOURCE_DEVICE_STEPS, SOURCE_GROUPS, SOURCE_KERAS, SOURCE_WHOLE
from tfprof_m1.trace.xplane import analyze, analyze_run_dir, classify_op, device_busy_ms, xplane_pb2

pytestmark = [pytest.mark.tf, pytest.mark.slow]


@pytest.mark.parametrize(
    "name, phase",
    [
        ("cifar10_1/conv2d_1/Relu:_MklNativeFusedConv2D", "forward"),
        ("sparse_categorical_crossentropy/Sum:Sum", "forward"),
        ("gradient_tape/cifar10_1/conv2d/Conv2DBackpropFilter:Conv2DBackpropFilter", "backward"),
        ("gradients/cifar10_1/dense_grad/MatMul:MatMul", "backward"),
        ("model/while/gradients/x:MatMul", "backward"),
        ("adam/Sqrt_1:Sqrt", "optimizer"),
        ("adam_3/truediv:RealDiv", "optimizer"),
        ("adamant/x:Mul", "forward"),
        ("SGD/AssignSubVariableOp:AssignSubVariableOp", "optimizer"),
        ("ArgMax:ArgMax", "other"),
        # fit runs its step inside a function call: the optimizer's scope is not the first one
        ("StatefulPartitionedCall/adam/Sub_2:Sub", "optimizer"),
        ("StatefulPartitionedCall/gradient_tape/sequential_1/dense_1/MatMul/MatMul:MatMul", "backward"),
        ("StatefulPartitionedCall/sequential_1/dense_1/Relu:_FusedMatMul", "forward"),
        ("StatefulPartitionedCall/AssignAddVariableOp:AssignAddVariableOp", "other"),
        # host-side transfers are never a model phase, whatever scope they sit in
        ("replica_4/bert/encoder/edge_12_x:_Recv", "transfer"),
        ("n/_3:_HostRecv", "transfer"),
        ("gradient_tape/model/edge_9:_Send", "transfer"),
    ],
)
def test_classify_op(name, phase):
    assert classify_op(name) == phase


def test_scopes_of_a_loops_own_map_to_its_phases():
    mapping = {"generator": "generator", "discriminator": "discriminator"}
    assert classify_op("gradient_tape/generator/dense/MatMul:MatMul", scope_phases=mapping) == "generator"
    assert classify_op("discriminator_1/dense/BiasAdd:BiasAdd", scope_phases=mapping) == "discriminator"
    assert classify_op("adam/Sqrt:Sqrt", scope_phases=mapping) == "optimizer"


def test_an_xla_compiled_step_is_said_to_hide_its_ops(tmp_path):
    """A real jit_compile trace: the compiled function's time is 'xla', with a note, not 0 % everywhere."""
    import keras
    import numpy as np
    import tensorflow as tf

    x = np.random.default_rng(0).normal(size=(128, 16)).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices((x, np.arange(128) % 4)).batch(32)
    model = keras.Sequential(
        [keras.Input((16,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(4)]
    )
    summary = _trace_four_steps(model, dataset, tmp_path, jit_compile=True)
    assert summary.op_ms.get("xla", 0) > 0
    assert any("XLA-compiled steps" in note and "__inference__fused" in note for note in summary.notes)


def _trace_four_steps(model, dataset, logdir, jit_compile=False):
    """Train ``model`` with TrainSteps' fused step, tracing steps 2-3; the trace's analysis."""
    import keras

    from tfprof_m1 import StepRange, TraceWindow, TrainSteps

    steps = TrainSteps(
        model,
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        keras.optimizers.Adam(),
        dataset.element_spec,
        jit_compile=jit_compile,
    )
    with TraceWindow(logdir, StepRange(2, 4)) as window:
        for step, (inputs, labels) in enumerate(dataset):
            with window.step(step):
                steps.fused(inputs, labels).numpy()
    return analyze_run_dir(logdir)


class SpaceBuilder:
    """An XSpace in the shape tf.profiler writes (test data, not a recorded trace)."""

    def __init__(self):
        self.space = xplane_pb2().XSpace()

    def plane(self, name):
        plane = self.space.planes.add()
        plane.name = name
        return plane

    @staticmethod
    def plane_stat(plane, name, value):
        stat_id = len(plane.stat_metadata) + 1
        plane.stat_metadata[stat_id].id = stat_id
        plane.stat_metadata[stat_id].name = name
        stat = plane.stats.add()
        stat.metadata_id = stat_id
        if isinstance(value, int):
            stat.int64_value = value
        else:
            stat.str_value = value

    @staticmethod
    def event(plane, line, name, offset_ns, duration_ns, **stats):
        metadata_id = next(
            (k for k, v in plane.event_metadata.items() if v.name == name), len(plane.event_metadata) + 1
        )
        plane.event_metadata[metadata_id].id = metadata_id
        plane.event_metadata[metadata_id].name = name
        event = line.events.add()
        event.metadata_id = metadata_id
        event.offset_ps = offset_ns * 1000
        event.duration_ps = duration_ns * 1000
        for stat_name, value in stats.items():
            stat_id = next(
                (k for k, v in plane.stat_metadata.items() if v.name == stat_name),
                len(plane.stat_metadata) + 1,
            )
            plane.stat_metadata[stat_id].id = stat_id
            plane.stat_metadata[stat_id].name = stat_name
            stat = event.stats.add()
            stat.metadata_id = stat_id
            if isinstance(value, int):
                stat.int64_value = value
            else:
                stat.str_value = value


def _gpu_space(with_device_plane=True):
    build = SpaceBuilder()
    host = build.plane("/host:CPU")
    python = host.lines.add()
    python.name = "python"
    compute = host.lines.add()
    compute.name = "tf_Compute/1"
    data = host.lines.add()
    data.name = "tf_data_private_threadpool/7"
    for step in range(2):
        start = step * 10_000
        build.event(host, python, "train", start, 9_000, step_num=step)
        build.event(host, python, "EagerLocalExecute: IteratorGetNext", start + 100, 400)
        build.event(host, compute, "model/dense/MatMul:MatMul", start + 600, 50)  # launches, on host
        build.event(host, compute, "model/Unique:Unique", start + 700, 2_000)  # has no GPU kernel
        build.event(host, compute, "ExecutorState::Process", start + 600, 3_000)  # a container, not an op
        build.event(host, data, "GatherV2:GatherV2", start + 50, 300)
    build.event(host, compute, "model/dense/MatMul:MatMul", 50_000, 99_999)  # outside every step: ignored
    if with_device_plane:
        gpu = build.plane("/device:GPU:0")
        stream = gpu.lines.add()
        stream.name = "Stream #7(Compute)"
        for step in range(2):
            start = step * 10_000
            build.event(
                gpu, stream, "volta_sgemm_128x64_nn", start + 700, 3_000, tf_op="model/dense/MatMul:MatMul"
            )
            build.event(
                gpu,
                stream,
                "ampere_bprop",
                start + 4_000,
                4_000,
                tf_op="gradient_tape/model/dense/MatMul:MatMul",
            )
            build.event(
                gpu,
                stream,
                "adam_kernel",
                start + 8_100,
                500,
                tf_op="adam/ResourceApplyAdam:ResourceApplyAdam",
            )
    return build.space


def test_gpu_trace_attributes_device_time_and_lists_host_only_ops():
    summary = analyze([_gpu_space()], device_kind="gpu")
    assert summary.device_planes == ["/device:GPU:0"]
    assert summary.traced_steps == [0, 1] and summary.step_ms_mean == pytest.approx(0.009)
    # on a device trace the phases are device time (kernels under their TensorFlow op's phase), and
    # the host's op time (launches, host-only ops) is kept beside it, never added to it
    assert summary.measure == "device time" and summary.op_ms == summary.device_ms
    assert summary.op_ms["backward"] == pytest.approx(2 * 0.004)
    assert summary.op_ms["optimizer"] == pytest.approx(2 * 0.0005)
    assert summary.op_ms["forward"] == pytest.approx(2 * 0.003)
    assert summary.host_op_ms["forward"] == pytest.approx(2 * (0.00005 + 0.002))
    # each step: 3 + 4 + 0.5 µs of kernels in a 9 µs step
    assert [(s.step, s.device_busy_ms, s.bound) for s in summary.steps] == [
        (0, pytest.approx(0.0075), "device"),
        (1, pytest.approx(0.0075), "device"),
    ]
    assert summary.steps[0].device_idle_ms == pytest.approx(0.0015)
    assert [op.name for op in summary.host_ops_on_gpu_run] == ["model/Unique:Unique"]
    assert summary.host_ops_on_gpu_run[0].count == 2
    assert summary.input_wait_ms == pytest.approx(0.0008)
    assert summary.input_pipeline_ms == pytest.approx(0.0006)
    assert summary.notes == []


def test_device_busy_time_is_the_union_of_kernel_intervals_per_phase():
    space = _gpu_space()
    gpu = space.planes[-1]
    second = gpu.lines.add()  # a second stream: one backward kernel overlaps the first stream's
    second.name = "Stream #8(Compute)"
    SpaceBuilder.event(
        gpu,
        second,
        "wgrad",
        5_000,
        4_000,
        tf_op="gradient_tape/model/conv/Conv2DBackpropFilter:Conv2DBackpropFilter",
    )
    busy = device_busy_ms([space])
    assert busy["forward"] == pytest.approx(2 * 0.003)
    # step 0 backward: 4,000-8,000 on one stream and 5,000-9,000 on the other -> 5 µs busy, not 8
    assert busy["backward"] == pytest.approx(0.005 + 0.004)
    assert busy["optimizer"] == pytest.approx(2 * 0.0005)
    assert device_busy_ms([_gpu_space(with_device_plane=False)]) == {}


def test_gpu_trace_without_device_plane_says_so_instead_of_zeros():
    summary = analyze([_gpu_space(with_device_plane=False)], device_kind="gpu")
    assert summary.device_planes == [] and summary.host_ops_on_gpu_run == []
    assert any("no device plane" in note and "tensorflow-metal" in note for note in summary.notes)


def test_a_trace_without_step_markers_is_flagged():
    build = SpaceBuilder()
    host = build.plane("/host:CPU")
    line = host.lines.add()
    line.name = "tf_Compute/1"
    build.event(host, line, "model/dense/MatMul:MatMul", 0, 10_000)
    build.event(host, line, "model/dense/BiasAdd:BiasAdd", 20_000, 5_000)
    summary = analyze([build.space])
    assert summary.step_markers == 0 and summary.traced_steps == [] and summary.step_ms_mean is None
    assert summary.step_source == SOURCE_WHOLE
    assert any("no step markers" in note and "whole trace" in note for note in summary.notes)
    assert summary.op_ms == {"forward": pytest.approx(0.015)}  # the whole trace is the window


def test_trace_command_on_a_directory_without_trace_is_one_line(tmp_path):
    with pytest.raises(UserError, match="no tf.profiler trace"):
        analyze_run_dir(tmp_path)
    result = run_cli("trace", str(tmp_path))
    assert (
        result.returncode == 2
        and "no tf.profiler trace" in result.stderr
        and "Traceback" not in result.stderr
    )


def test_trace_command_reads_a_saved_gpu_trace_without_tensorflow(tmp_path):
    profile = tmp_path / "plugins" / "profile" / "2026_11_28"
    profile.mkdir(parents=True)
    (profile / "gpuhost.xplane.pb").write_bytes(_gpu_space().SerializeToString())
    code = (
        "import sys; from tfprof_m1.cli import main; rc = main(['trace', "
        "sys.argv[1], '--format', 'markdown']); "
        "print('TF' if 'tensorflow' in sys.modules else 'noTF', file=sys.stderr); sys.exit(rc)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.split()[-1] == "noTF"
    assert "| backward" in result.stdout and "model/Unique:Unique" in result.stdout
    assert "/device:GPU:0" in result.stdout


def test_gpu_check_script_sets_device_busy_time_beside_the_parts():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "benchmarks" / "gpu_check.py")
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    parts = [
        {
            "part": name,
            "math_share": {"point": share, "low": share - 0.02, "high": share + 0.02},
            "host_ms": 0.1,
            "wait_ms": 1.0,
        }
        for name, share in (("forward", 0.25), ("backward", 0.65), ("optimizer", 0.1))
    ]
    report = {
        "runs": [{"batch_size": 32, "steady": {"parts": parts, "profiling_cost": None, "execution": None}}]
    }
    rows = gpu_check.markdown_rows(report, device_busy_ms([_gpu_space()]))
    # device busy: forward 6 µs, backward 8 µs, optimizer 1 µs of 15
    assert rows[0] == "| 32 | forward | 25.0% [23.0%–27.0%] | 0.100 / 1.000 | 0.006 ms (40.0%) |"
    assert rows[1].endswith("| 0.008 ms (53.3%) |")
    assert gpu_check.markdown_rows(report, {})[2].endswith("| no device plane |")
    assert "not measured" in gpu_check.cost_line(report)
    # the traced steps' busy/idle from the same reader: 6.6 µs busy of each 9 µs step
    line = gpu_check.step_line(report, analyze([_cuda_space()], device_kind="gpu"))
    assert line == (
        "- batch 32: traced steps 0.009 ms on average, device busy 0.007 ms, idle 0.002 ms; "
        "0 of 2 steps host-bound (device idle more than busy)"
    )
    assert "no device activity" in gpu_check.step_line(report, analyze([_gpu_space(False)]))


def test_trace_command_gives_json_and_maps_scopes(tmp_path):
    import json

    profile = tmp_path / "plugins" / "profile" / "2026_11_28"
    profile.mkdir(parents=True)
    (profile / "gpuhost.xplane.pb").write_bytes(_gpu_space().SerializeToString())
    plain = run_cli("trace", str(tmp_path), "--format", "json")
    assert plain.returncode == 0, plain.stderr
    data = json.loads(plain.stdout)
    assert data["traced_steps"] and set(data["op_ms"]) >= {"forward", "backward"}
    mapped = json.loads(run_cli("trace", str(tmp_path), "--format", "json", "--scope", "model=mine").stdout)
    assert "mine" in mapped["op_ms"] and "forward" not in mapped["op_ms"]
    bad = run_cli("trace", str(tmp_path), "--scope", "model")
    assert (
        bad.returncode == 2
        and "--scope 'model': expected SCOPE=PHASE" in bad.stderr
        and "Traceback" not in bad.stderr
    )


@pytest.mark.parametrize("unroll", [False, True])
def test_a_recurrent_step_gets_the_xprof_while_loop_note(tmp_path, unroll):
    """XProf's overview shows no step time for host-only traces of steps with a tf.while_loop (a GRU);
    the analysis says so, and only then (the unrolled GRU has no while loop)."""
    import keras
    import numpy as np
    import tensorflow as tf

    tokens = np.random.default_rng(0).integers(0, 50, size=(96, 6)).astype("int32")
    dataset = tf.data.Dataset.from_tensor_slices((tokens, tokens[:, 0] % 2)).batch(16)
    model = keras.Sequential(
        [
            keras.Input((6,), dtype="int32"),
            keras.layers.Embedding(50, 4),
            keras.layers.GRU(4, unroll=unroll),
            keras.layers.Dense(2),
        ]
    )
    summary = _trace_four_steps(model, dataset, tmp_path)
    assert summary.op_ms.get("backward", 0) > 0
    assert any("tf.while_loop" in note for note in summary.notes) is (not unroll)


#: XProf's derived line ids (tsl/profiler/utils/xplane_schema.h: kThreadIdDerivedMin = 0xdeadbeef):
#: Steps, TensorFlow Name Scope, TensorFlow Ops, as real GPU traces carry them.
STEPS_ID, NAME_SCOPE_ID, TF_OPS_ID = 0xDEADBEEF, 0xDEADBEEF + 2, 0xDEADBEEF + 3


def _line(plane, name, line_id=0):
    line = plane.lines.add()
    line.name, line.id = name, line_id
    return line


def _cuda_space(steps_line=True):
    """The shape of a TensorFlow 2 CUDA trace grouped by XProf (the public BERT multi-worker demo's):
    no host step marker; per device, stream lines with kernels (``tf_op`` or the older ``level 0``
    annotation) and memcpys, and derived lines repeating them; ``group_id`` on kernels and host ops."""
    build = SpaceBuilder()
    host = build.plane("/host:CPU")
    launch = _line(host, "tf_gpu_private_4/1")
    gpu = build.plane("/device:GPU:0")
    for name, value in (("device_vendor", "Nvidia"), ("compute_cap_major", 7), ("compute_cap_minor", 0)):
        build.plane_stat(gpu, name, value)
    details = {"kernel_details": "regs:32 shm:0 grid:80,1,1 block:256,1,1"}
    stream7, stream8 = _line(gpu, "Stream #7(Compute)", 7), _line(gpu, "Stream #8(Compute)", 8)
    copies = _line(gpu, "Stream #9(MemcpyH2D)", 9)
    tf_ops, scopes = (
        _line(gpu, "TensorFlow Ops", TF_OPS_ID),
        _line(gpu, "TensorFlow Name Scope", NAME_SCOPE_ID),
    )
    steps = _line(gpu, "Steps", STEPS_ID) if steps_line else None
    forward, backward = "model/dense/MatMul:MatMul", "gradient_tape/model/dense/MatMul:MatMul"
    for step in range(2):
        t = step * 10_000
        build.event(host, launch, forward, t + 50, 100, group_id=step)
        build.event(host, launch, "model/Unique:Unique", t + 300, 400, group_id=step)  # no kernel
        build.event(host, launch, "edge_3_IteratorGetNext:_Recv", t + 8_000, 800, group_id=step)
        build.event(host, launch, "ExecutorState::Process", t, 9_000, group_id=step)  # a container
        build.event(gpu, copies, "MemcpyH2D", t + 200, 600, memcpy_details="size:4096 dest:0 async:1")
        build.event(
            gpu, stream7, "volta_sgemm_128x64_nn", t + 1_000, 2_000, tf_op=forward, group_id=step, **details
        )
        build.event(gpu, stream7, "wgrad_a", t + 3_500, 3_000, tf_op=backward, group_id=step, **details)
        build.event(gpu, stream8, "wgrad_b", t + 4_500, 3_000, tf_op=backward, group_id=step, **details)
        build.event(  # older TensorFlow: the op is in the annotation only
            gpu,
            stream7,
            "adam_kernel",
            t + 7_000,
            500,
            **{"level 0": "adam/Apply:ResourceApplyAdam"},
            **details,
        )
        for start, duration, name in (
            (1_000, 2_000, forward),
            (3_500, 3_000, backward),
            (4_500, 3_000, backward),
        ):
            build.event(gpu, tf_ops, name, t + start, duration, group_id=step)  # the same kernels again
        build.event(gpu, scopes, "model", t + 1_000, 6_500, group_id=step)
        if steps:
            build.event(gpu, steps, str(step), t + 100, 9_000, group_id=step, step_name=str(step))
    build.event(gpu, stream7, "volta_sgemm_128x64_nn", 50_000, 9_999, tf_op=forward, **details)  # no step
    return build.space


def test_a_cuda_trace_counts_each_kernel_once_from_the_device_steps_line():
    summary = analyze([_cuda_space()], device_kind="gpu")
    assert summary.step_source == SOURCE_DEVICE_STEPS
    assert summary.traced_steps == [0, 1] and summary.step_ms_mean == pytest.approx(0.009)
    # stream lines only: the TensorFlow Ops and Name Scope lines would count forward three times
    assert summary.device_ms == {
        "forward": pytest.approx(2 * 0.002),
        "backward": pytest.approx(2 * 0.004),  # 3,500-6,500 and 4,500-7,500 on two streams: 4 µs
        "optimizer": pytest.approx(2 * 0.0005),  # from the annotation
        "transfer": pytest.approx(2 * 0.0006),
    }
    assert summary.device_kernel_ms["backward"] == pytest.approx(2 * 0.006)  # XProf's kernel_stats sum
    assert summary.op_ms == summary.device_ms and "other" not in summary.op_ms
    # host op time beside it, by group_id; the host _Recv is a transfer, never forward
    assert summary.host_op_ms == {
        "forward": pytest.approx(2 * (0.0001 + 0.0004)),
        "transfer": pytest.approx(2 * 0.0008),
    }
    assert [op.name for op in summary.host_ops_on_gpu_run] == ["model/Unique:Unique"]
    # busy: 200-800, 1,000-3,000 and 3,500-7,500 of a 9 µs step
    step = summary.steps[0]
    assert (step.device_busy_ms, step.device_idle_ms, step.bound) == (
        pytest.approx(0.0066),
        pytest.approx(0.0024),
        "device",
    )
    assert device_busy_ms([_cuda_space()]) == summary.device_ms


def test_without_a_steps_line_group_ids_make_the_steps():
    summary = analyze([_cuda_space(steps_line=False)], device_kind="gpu")
    assert summary.step_source == SOURCE_GROUPS and summary.traced_steps == [0, 1]
    # each group spans its kernels: 1,000-7,500; the ungrouped copy before it is outside
    assert summary.step_ms_mean == pytest.approx(0.0065)
    assert summary.device_ms["backward"] == pytest.approx(2 * 0.004) and "transfer" not in summary.device_ms


def test_a_mostly_idle_device_makes_a_host_bound_step():
    space = _cuda_space()
    steps = next(line for line in space.planes[1].lines if line.name == "Steps")
    steps.events[1].duration_ps = 30_000_000  # step 1 lasts 30 µs, the device works 6.6 of them
    summary = analyze([space], device_kind="gpu")
    assert [s.bound for s in summary.steps] == ["device", "host"]
    assert summary.steps[1].device_idle_ms == pytest.approx(0.03 - 0.0066)


def test_device_time_agrees_with_xprofs_kernel_stats(tmp_path):
    """XProf's own converter on the same file: its kernel_stats summed by the same name rules."""
    converter = pytest.importorskip("xprof.convert.raw_to_tool_data")
    import json

    path = tmp_path / "gpu.xplane.pb"
    path.write_bytes(_cuda_space().SerializeToString())
    table = json.loads(converter.xspace_to_tool_data([str(path)], "kernel_stats", {})[0])
    columns = [column["id"] for column in table["cols"]]
    xprof_ms: dict[str, float] = {}
    for row in table["rows"]:
        cells = dict(zip(columns, [cell.get("v") if cell else None for cell in row["c"]]))
        phase = classify_op(cells["op_name"] + ":x") if cells["op_name"] else "other"
        xprof_ms[phase] = xprof_ms.get(phase, 0.0) + cells["total_duration_us"] / 1000
    ours = analyze([_cuda_space()], device_kind="gpu").device_kernel_ms
    # XProf reads the whole file (one more forward kernel, outside the steps) and has no copies; it
    # names no op for a kernel whose op is only in its annotation, which tfprof_m1 reads as optimizer
    assert xprof_ms == {
        "forward": pytest.approx(ours["forward"] + 0.009999, rel=0.05),
        "backward": pytest.approx(ours["backward"], rel=0.05),
        "other": pytest.approx(ours["optimizer"], rel=0.05),
    }


def _keras3_space():
    """Keras 3's TensorBoard(profile_batch=...) trace: 'Profiled batch' events with step_num."""
    build = SpaceBuilder()
    host = build.plane("/host:CPU")
    python, compute = _line(host, "python"), _line(host, "tf_Compute/1")
    for step in (1, 2, 3):
        t = step * 10_000
        build.event(host, python, "Profiled batch", t, 8_000, step_num=step)
        build.event(host, compute, "StatefulPartitionedCall/sequential/dense/MatMul:MatMul", t + 100, 300)
        build.event(
            host,
            compute,
            "StatefulPartitionedCall/gradient_tape/sequential/dense/MatMul:MatMul",
            t + 500,
            600,
        )
        build.event(host, compute, "StatefulPartitionedCall/adam/Sub_2:Sub", t + 1_200, 100)
    build.event(host, compute, "StatefulPartitionedCall/sequential/dense/MatMul:MatMul", 50_000, 9_000)
    return build.space


def test_keras_profiled_batches_are_the_steps():
    summary = analyze([_keras3_space()])
    assert summary.step_source == SOURCE_KERAS and summary.traced_steps == [1, 2, 3]
    assert summary.step_ms_mean == pytest.approx(0.008) and summary.measure == "host op time"
    assert summary.op_ms == {
        "forward": pytest.approx(3 * 0.0003),
        "backward": pytest.approx(3 * 0.0006),
        "optimizer": pytest.approx(3 * 0.0001),
    }


def _write_run(run_dir, space):
    profile = run_dir / "plugins" / "profile" / "2026_11_30_09_00_00"
    profile.mkdir(parents=True)
    (profile / "host.xplane.pb").write_bytes(space.SerializeToString())


def test_several_runs_under_one_folder_are_read_apart(tmp_path):
    import json

    _write_run(tmp_path / "runs" / "cuda", _cuda_space())
    _write_run(tmp_path / "runs" / "keras" / "train", _keras3_space())
    with pytest.raises(UserError, match=r"holds the traces of 2 runs .*cuda.*keras/train.*give one"):
        analyze_run_dir(tmp_path / "runs")
    shown = run_cli("trace", str(tmp_path / "runs"))
    assert shown.returncode == 0, shown.stderr
    assert f"tf.profiler trace of {tmp_path / 'runs' / 'cuda'}: device time by phase" in shown.stdout
    assert f"tf.profiler trace of {tmp_path / 'runs' / 'keras' / 'train'}: op time by phase" in shown.stdout
    data = json.loads(run_cli("trace", str(tmp_path / "runs"), "--format", "json").stdout)
    assert [run["step_source"] for run in data] == [SOURCE_DEVICE_STEPS, SOURCE_KERAS]
    # Keras's log folder (logs/train, logs/validation) is one run: read as such
    one = json.loads(run_cli("trace", str(tmp_path / "runs" / "keras"), "--format", "json").stdout)
    assert one["traced_steps"] == [1, 2, 3]


@pytest.mark.parametrize(
    "line_id, name, derived",
    [
        (0xDEADBEEF + 3, "TensorFlow Ops", True),  # as TensorFlow 2.x writes it (int64)
        (-559038734, "TensorFlow Ops", True),  # the same id as 2020 traces stored it (int32)
        (0xDEADBEEF + 5, "renamed by a newer XProf", True),  # the id says what it is, whatever the name
        (134, "Stream #134(Compute)", False),
        (0, "Steps", True),  # no id: the name is all there is
        (0, "Stream #0", False),
    ],
)
def test_derived_lines_are_known_by_their_ids(line_id, name, derived):
    from tfprof_m1.trace.steps import is_derived_line

    line = xplane_pb2().XLine(id=line_id, name=name)
    assert is_derived_line(line) is derived


def test_a_device_trace_table_shows_device_time_host_time_and_steps():
    from tfprof_m1.views.render import render_trace

    text = " ".join(render_trace(analyze([_cuda_space()], device_kind="gpu"), markdown=True).split())
    assert "tf.profiler trace: device time by phase" in text
    assert "| phase | device time (ms) | host op time (ms) | share of device time (trace) |" in text
    assert "| 0 | 0.009 | 0.007 | 0.002 | device |" in text
    assert "2 step markers: the device planes' Steps line" in text
    host = " ".join(render_trace(analyze([_gpu_space(with_device_plane=False)]), markdown=True).split())
    assert "op time by phase" in host and "device busy" not in host and "(2 step markers)" in host


def test_a_kernel_running_after_its_host_marker_joins_the_step_by_its_group_id():
    """A host-marked GPU step (this project's, Keras 2's) in a grouped trace: kernels carry the
    marker's group_id and may start after the marker ends; the group puts them in their step."""
    space = _gpu_space()
    host, gpu = space.planes
    python = next(line for line in host.lines if line.name == "python")
    stream = gpu.lines[0]
    for event in python.events:  # XProf's grouping gives each train marker a group
        if host.event_metadata[event.metadata_id].name == "train":
            stat = event.stats.add()
            stat.metadata_id = next(iter(host.stat_metadata)) + 100
            host.stat_metadata[stat.metadata_id].id = stat.metadata_id
            host.stat_metadata[stat.metadata_id].name = "group_id"
            stat.int64_value = 7 if event.offset_ps == 0 else 8
    # step 0's marker ends at 9 µs; its last kernel starts at 9.5 µs, in no marker
    SpaceBuilder.event(gpu, stream, "late_adam", 9_500, 300, tf_op="adam/Late:Mul", group_id=7)
    summary = analyze([space], device_kind="gpu")
    assert summary.device_ms["optimizer"] == pytest.approx(2 * 0.0005 + 0.0003)
    assert summary.steps[0].device_busy_ms == pytest.approx(0.0075 + 0.0003)  # not clipped at the marker
    assert summary.steps[1].device_busy_ms == pytest.approx(0.0075)
    # without the group the same kernel is outside every step
    assert analyze([_gpu_space()], device_kind="gpu").device_ms["optimizer"] == pytest.approx(2 * 0.0005)
