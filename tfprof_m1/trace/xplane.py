"""Read a tf.profiler trace (XSpace protobuf) and attribute op time to phases by name scope.

Op events on the host's ``tf_Compute`` threads and on ``/device:GPU:N`` planes are named
``scope/…/op:Type``. Ops under ``gradient_tape/`` or ``gradients/`` are backward; ops under the
optimizer's scope (``adam/``, ``sgd/``, …) are optimizer; other scoped ops (the model, the loss) are
forward; unscoped ops (metric bookkeeping) are other. tf.data work on ``tf_data*`` threads is the
input pipeline, and ``IteratorGetNext`` on the Python thread is the host waiting for it.

Only events that start inside a step marker (``Trace("train", step_num=…)``) count. Threads run in
parallel, so op time can exceed wall time: the shares are of op time, not of the step.

The XSpace module is TensorFlow's ``xplane_pb2``; it is loaded from TensorFlow's files without
importing TensorFlow, so ``python -m tfprof_m1 trace`` answers quickly.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tfprof_m1.base.errors import UserError
from tfprof_m1.base.phases import BACKWARD, FORWARD, OPTIMIZER, OTHER
from tfprof_m1.base.safe_io import read_bounded
from tfprof_m1.base.tf_types import ProtoMessage
from tfprof_m1.trace.device import TRANSFER, XLA_PHASE, device_time, union_ps
from tfprof_m1.trace.steps import (
    SOURCE_DEVICE_STEPS,
    SOURCE_GROUPS,
    SOURCE_WHOLE,
    StepIndex,
    StepWindow,
    find_steps,
    is_derived_line,
    is_device_plane,
    line_events,
    stat_value,
)

__all__ = [
    "DEVICE_TIME",
    "TraceSummary",
    "WHILE_LOOP_NOTE",
    "analyze",
    "analyze_run_dir",
    "classify_op",
    "device_busy_ms",
    "find_runs",
    "find_xplane_files",
    "read_xspace",
    "xplane_pb2",
]


@dataclass
class OpTime:
    """One TensorFlow op's time inside the traced steps."""

    name: str
    phase: str
    total_ms: float
    count: int


#: What ``op_ms`` holds: host op time (host-only traces) or device time (traces with device planes).
HOST_OP_TIME = "host op time"
DEVICE_TIME = "device time"
TRANSFER_OPS = frozenset({"_Send", "_Recv", "_HostSend", "_HostRecv", "Send", "Recv"})


@dataclass
class StepTime:
    """One traced step: its time and, on traces with device planes, how busy the device was."""

    step: int
    #: The step's duration in the trace (the longest of its windows when it has several), ms.
    ms: float
    #: Union of the step's kernels and copies on a device, mean over the devices that ran any (ms).
    device_busy_ms: float | None = None
    #: ``ms`` minus ``device_busy_ms``: the device waited (for the host, the input, a copy).
    device_idle_ms: float | None = None
    #: "device" when the device was busy at least half the step, else "host" (it waited more than it ran).
    bound: str | None = None


#: Said of a host-only trace whose steps run a tf.while_loop (``analysis.assemble`` words it again
#: when the loop is Keras's own steps_per_execution loop).
WHILE_LOOP_NOTE = (
    "the traced steps run a tf.while_loop (a recurrent layer such as GRU or LSTM): XProf's overview "
    "page shows no step time for such host-only traces (measured: 0.0 ms for a GRU whose steps took "
    "10.8 ms, 12.4 ms for the same GRU unrolled; docs/performance.md); this analysis and the timing "
    "figures do not depend on it"
)


@dataclass
class TraceSummary:
    """What the tf.profiler trace of the traced steps says (see docs/tensorboard.md)."""

    files: list[str]
    traced_steps: list[int]
    step_markers: int
    #: Mean duration of the traced steps (of the step markers XProf sees).
    step_ms_mean: float | None
    #: Per phase (forward, backward, optimizer, transfer, other): host op time on host-only traces,
    #: device time (:attr:`device_ms`) on traces with device planes; ``measure`` says which.
    op_ms: dict[str, float]
    #: op_ms as fractions of all op time.
    shares: dict[str, float]
    #: tf.data op time on its own threads (runs in parallel with compute).
    input_pipeline_ms: float
    #: Host time in IteratorGetNext on the Python thread: waiting for input.
    input_wait_ms: float
    top_ops: dict[str, list[OpTime]]
    device_planes: list[str]
    #: On GPU runs: compute ops that ran on host threads and never on the device.
    host_ops_on_gpu_run: list[OpTime]
    notes: list[str] = field(default_factory=list)
    #: The timing-based forward/backward/optimizer shares of the same steps, for the cross-check.
    timing_shares: dict[str, float] | None = None
    #: The timing-based mean step time of the same steps.
    timing_step_ms_mean: float | None = None
    #: Where the steps came from (tfprof_m1's markers, Keras's, the device's Steps line, ...).
    step_source: str = ""
    #: What op_ms holds: "host op time" or "device time".
    measure: str = HOST_OP_TIME
    #: Per phase, device time inside the traced steps: union of its kernels per device, devices added (ms).
    device_ms: dict[str, float] = field(default_factory=dict)
    #: Per phase, the kernels' durations added up (XProf's kernel_stats way; above device_ms where
    #: kernels of one phase overlap on several streams), ms.
    device_kernel_ms: dict[str, float] = field(default_factory=dict)
    #: Batches each step marker spans: Keras's ``steps_per_execution`` (a marker is one call of the
    #: train function, N batches in a tf.while_loop); 1 for every other trace.
    batches_per_marker: int = 1
    #: On traces with device planes: host op time per phase (launching, host-only ops), ms.
    host_op_ms: dict[str, float] = field(default_factory=dict)
    #: Each traced step's time, with device busy/idle on device traces.
    steps: list[StepTime] = field(default_factory=list)


XPLANE_MODULE = "tensorflow.tsl.profiler.protobuf.xplane_pb2"
OPTIMIZER_SCOPES = frozenset(
    {
        "adam",
        "adamw",
        "sgd",
        "rmsprop",
        "adagrad",
        "adadelta",
        "adamax",
        "nadam",
        "ftrl",
        "lion",
        "adafactor",
        "lamb",
    }
)
BACKWARD_SCOPES = ("gradient_tape", "gradients")
TOP_OPS = 5


def xplane_pb2() -> ProtoMessage:
    """TensorFlow's XSpace protobuf module, without importing the rest of TensorFlow."""
    if XPLANE_MODULE in sys.modules:
        return sys.modules[XPLANE_MODULE]
    if "tensorflow" in sys.modules:  # TensorFlow is loaded anyway: take its module the usual way
        return importlib.import_module(XPLANE_MODULE)
    spec = importlib.util.find_spec("tensorflow")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("reading traces needs TensorFlow's xplane protobuf: install tensorflow")
    path = Path(list(spec.submodule_search_locations)[0]) / "tsl" / "profiler" / "protobuf" / "xplane_pb2.py"
    module_spec = importlib.util.spec_from_file_location(XPLANE_MODULE, path)
    if module_spec is None or module_spec.loader is None or not path.is_file():
        raise UserError(f"{path}: TensorFlow's xplane protobuf is missing; reinstall tensorflow")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[XPLANE_MODULE] = module  # TensorFlow, if imported later, reuses it (no double registration)
    module_spec.loader.exec_module(module)
    return module


def find_xplane_files(run_dir: str | Path) -> list[Path]:
    """``*.xplane.pb`` under ``run_dir/plugins/profile/*/`` and every repeating window's
    ``run_dir/cycle_N/plugins/profile/*/`` (or, failing both, anywhere under run_dir)."""
    root = Path(run_dir)
    found = sorted(root.glob("plugins/profile/*/*.xplane.pb")) + sorted(
        root.glob("cycle_*/plugins/profile/*/*.xplane.pb")
    )
    return found or sorted(root.rglob("*.xplane.pb"))


#: Largest trace file read (ten traced steps of cifar10 write a few MB; a long window some hundreds).
MAX_XPLANE_BYTES = 2**30


def read_xspace(path: str | Path) -> ProtoMessage:
    """Parse one ``*.xplane.pb`` file, a regular file of at most :data:`MAX_XPLANE_BYTES` (read by
    :func:`tfprof_m1.base.safe_io.read_bounded`: a FIFO or a link to a device is refused, not read);
    UserError when it cannot be read or parsed, or is empty."""
    space = xplane_pb2().XSpace()
    try:
        raw = read_bounded(path, MAX_XPLANE_BYTES, "tf.profiler trace")
        if not raw:
            raise UserError(
                f"{path}: empty (0 bytes): the profiler was stopped before it wrote the trace, or the "
                "disk was full; trace the run again"
            )
        space.ParseFromString(raw)
    except UserError:
        raise
    except OSError as error:
        raise UserError(f"{path}: cannot be read ({error.strerror or error})") from None
    except Exception as error:  # protobuf's DecodeError and friends
        raise UserError(
            f"{path}: not an XSpace trace ({type(error).__name__}); was it written by tf.profiler?"
        ) from None
    return space


#: Scopes that wrap a whole function call (``fit`` runs its step inside ``StatefulPartitionedCall``):
#: they say nothing about the phase, so they are looked through.
WRAPPER_SCOPE = re.compile(
    r"^(StatefulPartitionedCall|PartitionedCall|__inference_.*|cond|while|Func/.*)(_\d+)?$"
)
#: Events that run an XLA-compiled executable: its ops carry no TensorFlow name scopes.
XLA_EVENT = re.compile(r"(Cpu|Gpu)Executable::Execute|:(XlaLaunch|_XlaRun)$")


def _scope_name(scope: str) -> str:
    # Keras numbers the names of later objects in one process: adam, adam_1, adam_2, ...
    return re.sub(r"_\d+$", "", scope.lower())


def classify_op(
    name: str,
    optimizer_scopes: Iterable[str] = OPTIMIZER_SCOPES,
    scope_phases: Mapping[str, str] | None = None,
) -> str:
    """The phase of a TensorFlow op from its ``scope/…/op:Type`` name.

    Scopes are searched anywhere in the path, so ``StatefulPartitionedCall/adam/…`` (how ``fit``
    names its ops) is optimizer. ``scope_phases`` maps a loop's own scopes to phases (for example
    ``{"generator": "generator"}``) and wins over the built-in rules, outermost scope first.
    """
    path, _, op_type = name.partition(":")
    if op_type in TRANSFER_OPS:
        return TRANSFER
    scopes = path.split("/")[:-1]
    if scope_phases:
        for scope in scopes:
            phase = scope_phases.get(scope) or scope_phases.get(_scope_name(scope))
            if phase:
                return phase
    if any(scope in BACKWARD_SCOPES for scope in scopes):
        return BACKWARD
    optimizers = set(optimizer_scopes)
    if any(_scope_name(scope) in optimizers for scope in scopes):
        return OPTIMIZER
    if not [scope for scope in scopes if not WRAPPER_SCOPE.match(scope)]:
        return OTHER
    return FORWARD


def _in_while_loop(name: str) -> bool:
    """Whether an op runs in the body or condition of a ``tf.while_loop`` (its scopes say ``while``)."""
    return any(re.fullmatch(r"while(_\d+)?", scope) for scope in name.split(":", 1)[0].split("/")[:-1])


def _is_op_event(name: str) -> bool:
    return ":" in name and "::" not in name and " " not in name


def _outermost(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    kept: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if kept and start < kept[-1][1]:
            continue
        kept.append((start, end))
    return kept


def device_busy_ms(
    spaces: Sequence[ProtoMessage], optimizer_scopes: Iterable[str] = OPTIMIZER_SCOPES
) -> dict[str, float]:
    """Per phase, the time the device planes were busy with its kernels inside the traced steps (ms).

    The trace's :attr:`TraceSummary.device_ms`: stream lines only (XProf's derived lines skipped),
    kernels attributed by their TensorFlow op, memory copies as ``transfer``, kernels of one phase
    that overlap on several streams of one device counted once (the union of their intervals),
    devices added up. This is the GPU-side reference for the device-inclusive parts
    (benchmarks/gpu_check.py); empty when the trace has no device plane.
    """
    return analyze(spaces, "gpu", optimizer_scopes).device_ms


def _step_times(
    windows: Sequence[StepWindow], busy: Mapping[tuple[int, str], float], device: bool
) -> list[StepTime]:
    """Per step: its time (the longest of its windows, as XProf takes the longest device step) and, on
    device runs, the device's busy time (union of its kernels, mean over the devices that ran any)."""
    by_step: dict[int, list[StepWindow]] = defaultdict(list)
    for window in windows:
        by_step[window.step].append(window)
    times = []
    for step, found in sorted(by_step.items()):
        step_ms = max(window.ms for window in found)
        if not device:
            times.append(StepTime(step, step_ms))
            continue
        planes = [ms for (number, _), ms in busy.items() if number == step]
        busy_ms = sum(planes) / len(planes) if planes else 0.0
        idle_ms = max(step_ms - busy_ms, 0.0)
        times.append(StepTime(step, step_ms, busy_ms, idle_ms, "device" if busy_ms >= idle_ms else "host"))
    return times


def analyze(
    spaces: Sequence[ProtoMessage],
    device_kind: str = "cpu",
    optimizer_scopes: Iterable[str] = OPTIMIZER_SCOPES,
    scope_phases: Mapping[str, str] | None = None,
    files: Sequence[str] = (),
) -> TraceSummary:
    """Attribute the op time inside the traced steps of ``spaces`` to phases.

    Steps come from :func:`~tfprof_m1.trace.steps.find_steps` (the project's markers, Keras's, the
    device's Steps line, group ids, else the whole trace). On a trace with device planes the phases
    are device time (:func:`device_busy_ms`) and host op time is kept beside it; on a host-only trace
    they are host op time, as before.

    Args:
        scope_phases: a loop's own name scopes mapped to phases (see :func:`classify_op`).
        files: the files ``spaces`` were read from, recorded in the summary.
    """

    def classify(op_name: str) -> str:
        return classify_op(op_name, optimizer_scopes, scope_phases)

    windows, source = find_steps(spaces)
    index = StepIndex(windows)
    grouped = source in (SOURCE_DEVICE_STEPS, SOURCE_GROUPS)  # host events join their step by group_id
    traced = {window.step for window in windows}

    def host_step(
        number: int, plane: ProtoMessage, start: int, event: ProtoMessage, ids: set[int]
    ) -> int | None:
        if grouped:
            stat = next((s for s in event.stats if s.metadata_id in ids), None)
            group = stat_value(stat, plane.stat_metadata) if stat is not None else None
            return int(group) if group is not None and int(group) in traced else None
        window = index.find(number, None, start)
        return window.step if window is not None else None

    host_time: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0]))
    input_pipeline_ps = 0
    waits: dict[int, list[tuple[int, int]]] = defaultdict(list)
    host_ops: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    xla_runs: dict[int, list[tuple[int, int]]] = defaultdict(list)
    while_loops = False
    compiled_functions: set[str] = set()
    device_planes: list[str] = []
    for number, space in enumerate(spaces):
        for plane in space.planes:
            if is_device_plane(plane):
                if any(not is_derived_line(line) for line in plane.lines):  # a device that recorded work
                    device_planes.append(plane.name)
                continue
            ids = {k for k, v in plane.stat_metadata.items() if v.name == "group_id"}
            for line in plane.lines:
                is_data = line.name.startswith("tf_data")
                is_compute = line.name.startswith(("tf_Compute", "tf_inter_op", "tf_gpu_private"))
                for name, start, duration, event in line_events(plane, line):
                    if host_step(number, plane, start, event, ids) is None:
                        continue
                    if XLA_EVENT.search(name):
                        xla_runs[number].append((start, start + duration))
                    elif line.name == "python" and name.startswith("__inference_") and _is_op_event(name):
                        compiled_functions.add(name.split(":", 1)[0])
                    if line.name == "python" and name.endswith("IteratorGetNext"):
                        waits[number].append((start, start + duration))
                    elif is_data and _is_op_event(name):
                        input_pipeline_ps += duration
                    elif is_compute and _is_op_event(name):
                        while_loops = while_loops or _in_while_loop(name)
                        cell = host_time[classify(name)][name]
                        cell[0] += duration / 1e9
                        cell[1] += 1
                        host_ops[name][0] += duration / 1e9
                        host_ops[name][1] += 1

    device = device_time(spaces, index, classify)
    device_planes = list(dict.fromkeys(device_planes))
    on_device = bool(device.ops)
    host_ms = {phase: sum(total for total, _ in ops.values()) for phase, ops in host_time.items()}

    xla_ms = sum(union_ps(runs) for runs in xla_runs.values()) / 1e9
    if xla_ms > 0 and not device_planes:  # on a device plane XLA kernels are already counted as ops
        host_time[XLA_PHASE]["XLA executable runs"] = [xla_ms, sum(len(runs) for runs in xla_runs.values())]
        host_ms[XLA_PHASE] = xla_ms
    shown = device.ops if on_device else host_time
    phase_ms = dict(device.union_ms) if on_device else host_ms
    total = sum(phase_ms.values())
    top = {
        phase: [
            OpTime(name, phase, round(value[0], 4), int(value[1]))
            for name, value in sorted(ops.items(), key=lambda item: -item[1][0])[:TOP_OPS]
        ]
        for phase, ops in shown.items()
    }
    notes = []
    host_only: list[OpTime] = []
    if device_planes:
        host_only = [
            OpTime(name, classify(name), round(value[0], 4), int(value[1]))
            for name, value in sorted(host_ops.items(), key=lambda item: -item[1][0])
            if name not in device.op_names and classify(name) not in (OTHER, TRANSFER)
        ][:10]
    elif device_kind == "gpu":
        notes.append(
            "the trace has no device plane: this GPU recorded no device activity (tensorflow-metal records "
            "none); device time is not in the trace, use the timing-based breakdown"
        )
    if xla_runs:
        functions = ", ".join(sorted(compiled_functions)) or "compiled functions"
        notes.append(
            f"XLA-compiled steps ({functions}): {xla_ms:.1f} ms ran as XLA executables, whose ops carry no "
            "TensorFlow name scopes, so forward/backward/optimizer cannot "
            "be read from this trace (that time is "
            f"'{XLA_PHASE}' here); the timing-based parts (probe steps) still divide the step"
        )
    if while_loops and not device_planes:
        notes.append(WHILE_LOOP_NOTE)
    if source == SOURCE_WHOLE and not windows:
        notes.append("the trace holds no events: nothing was recorded, or the file is empty or torn")
    elif source == SOURCE_WHOLE:
        notes.append(
            "no step markers in the trace: the whole trace is read as one window; steps are found from "
            "tf.profiler.experimental.Trace('train', step_num=...), Keras's TensorBoard(profile_batch=...) "
            "or a device Steps line"
        )
    steps = _step_times(windows, device.busy_ms, on_device)
    if input_pipeline_ps > 0 and not any(waits.values()) and source != SOURCE_WHOLE:
        notes.append(
            "no IteratorGetNext on the Python thread in the traced steps: the step fetches its input "
            "inside its own function (Keras's fit does), so the input wait above reads 0 and any wait "
            "is inside the step's op time; tf.data's own work is still counted"
        )
    return TraceSummary(
        files=list(files),
        traced_steps=sorted(traced) if source != SOURCE_WHOLE else [],
        step_markers=len(windows) if source != SOURCE_WHOLE else 0,
        step_ms_mean=sum(s.ms for s in steps) / len(steps) if steps and source != SOURCE_WHOLE else None,
        op_ms={phase: round(value, 4) for phase, value in sorted(phase_ms.items())},
        shares={phase: value / total for phase, value in sorted(phase_ms.items())} if total > 0 else {},
        input_pipeline_ms=input_pipeline_ps / 1e9,
        input_wait_ms=sum(end - start for spans_ in waits.values() for start, end in _outermost(spans_))
        / 1e9,
        top_ops=top,
        device_planes=device_planes,
        host_ops_on_gpu_run=host_only,
        notes=notes,
        step_source=source,
        measure=DEVICE_TIME if on_device else HOST_OP_TIME,
        device_ms={phase: round(value, 4) for phase, value in sorted(device.union_ms.items())},
        device_kernel_ms={phase: round(value, 4) for phase, value in sorted(device.kernel_ms.items())},
        host_op_ms={phase: round(value, 4) for phase, value in sorted(host_ms.items())} if on_device else {},
        steps=steps,
    )


def find_runs(root: str | Path) -> list[Path]:
    """The run directories under ``root``: ``root`` itself when it holds a trace of its own
    (``plugins/profile/*/`` or ``cycle_N/plugins/profile/*/``), else every folder below it that does
    (``tensorboard --logdir runs`` layout, Keras's ``logs/train``), else the folders holding loose
    ``*.xplane.pb`` files. Sorted; empty when there is no trace."""
    root = Path(root)
    if sorted(root.glob("plugins/profile/*/*.xplane.pb")) or sorted(
        root.glob("cycle_*/plugins/profile/*/*.xplane.pb")
    ):
        return [root]
    runs: set[Path] = set()
    for path in root.rglob("*.xplane.pb"):
        if path.parent.parent.name == "profile" and path.parent.parent.parent.name == "plugins":
            run = path.parents[3]
            if re.fullmatch(r"cycle_\d+", run.name):  # a repeating window's later session
                run = run.parent
            runs.add(run)
        else:
            runs.add(path.parent)
    return sorted(runs)


def analyze_run_dir(
    run_dir: str | Path, device_kind: str = "cpu", scope_phases: Mapping[str, str] | None = None
) -> TraceSummary:
    """Analyze every xplane file of one run directory (its profiler sessions and hosts together).

    Raises:
        UserError: no trace there, or the traces of several runs (:func:`find_runs`), which are never merged.
    """
    runs = find_runs(run_dir)
    if not runs:
        raise UserError(
            f"{run_dir}: no tf.profiler trace (plugins/profile/*/*.xplane.pb); run without --no-trace"
        )
    if len(runs) > 1:
        names = ", ".join(str(run) for run in runs[:5]) + (", ..." if len(runs) > 5 else "")
        raise UserError(f"{run_dir}: holds the traces of {len(runs)} runs ({names}); give one of them")
    files = find_xplane_files(runs[0])
    spaces = [read_xspace(path) for path in files]
    return analyze(spaces, device_kind, scope_phases=scope_phases, files=[str(path) for path in files])
