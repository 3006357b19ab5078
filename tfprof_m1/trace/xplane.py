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
from typing import Any

from tfprof_m1.base.errors import UserError
from tfprof_m1.base.phases import BACKWARD, FORWARD, OPTIMIZER, OTHER
from tfprof_m1.base.safe_io import read_bounded


@dataclass
class OpTime:
    """One TensorFlow op's time inside the traced steps."""

    name: str
    phase: str
    total_ms: float
    count: int


@dataclass
class TraceSummary:
    """What the tf.profiler trace of the traced steps says (see docs/tensorboard.md)."""

    files: list[str]
    traced_steps: list[int]
    step_markers: int
    #: Mean duration of the step markers XProf sees.
    step_ms_mean: float | None
    #: Op time per phase (forward, backward, optimizer, other), host threads and device planes.
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
STEP_MARKER = "train"
TOP_OPS = 5


def xplane_pb2() -> Any:
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


def read_xspace(path: str | Path) -> Any:
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
XLA_PHASE = "xla"


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
    path = name.split(":", 1)[0]
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


def _stat_value(stat: Any, stat_metadata: Any) -> Any:
    kind = stat.WhichOneof("value")
    if kind == "ref_value":
        return stat_metadata[stat.ref_value].name
    return getattr(stat, kind) if kind else None


def _stats(plane: Any, event: Any) -> dict[str, Any]:
    return {plane.stat_metadata[s.metadata_id].name: _stat_value(s, plane.stat_metadata) for s in event.stats}


def _events(plane: Any, line: Any) -> Iterable[tuple[str, int, int, Any]]:
    """(name, start_ps, duration_ps, event) of each event on a line, in absolute picoseconds.

    Stats are decoded only where needed (:func:`_stats`): most events are ops that need none.
    """
    base = line.timestamp_ns * 1000
    for event in line.events:
        metadata = plane.event_metadata[event.metadata_id]
        yield metadata.name, base + event.offset_ps, event.duration_ps, event


def _outermost(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    kept: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if kept and start < kept[-1][1]:
            continue
        kept.append((start, end))
    return kept


def _union_ps(intervals: list[tuple[int, int]]) -> int:
    """Total length of the union of (start, end) intervals."""
    total, reach = 0, None
    for start, end in sorted(intervals):
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total


def device_busy_ms(
    spaces: Sequence[Any], optimizer_scopes: Iterable[str] = OPTIMIZER_SCOPES
) -> dict[str, float]:
    """Per phase, the time the device planes were busy with its kernels (ms).

    Kernels are attributed by their TensorFlow op (the ``tf_op`` stat: ``gradient_tape/...`` is
    backward, the optimizer's scope is optimizer); kernels of one phase that overlap on several
    streams count once (the union of their intervals). This is the GPU-side reference for the
    device-inclusive parts (benchmarks/gpu_check.py).
    """
    intervals: dict[str, list[tuple[int, int]]] = {}
    for space in spaces:
        for plane in space.planes:
            if not plane.name.startswith("/device:"):
                continue
            for line in plane.lines:
                for name, start, duration, event in _events(plane, line):
                    op_name = str(_stats(plane, event).get("tf_op") or name)
                    intervals.setdefault(classify_op(op_name, optimizer_scopes), []).append(
                        (start, start + duration)
                    )
    return {phase: _union_ps(spans) / 1e9 for phase, spans in intervals.items()}


def analyze(
    spaces: Sequence[Any],
    device_kind: str = "cpu",
    optimizer_scopes: Iterable[str] = OPTIMIZER_SCOPES,
    scope_phases: Mapping[str, str] | None = None,
    files: Sequence[str] = (),
) -> TraceSummary:
    """Attribute the op time inside the traced steps of ``spaces`` to phases.

    Args:
        scope_phases: a loop's own name scopes mapped to phases (see :func:`classify_op`).
        files: the files ``spaces`` were read from, recorded in the summary.
    """

    def classify(op_name: str) -> str:
        return classify_op(op_name, optimizer_scopes, scope_phases)

    # Each file (profiler session) has its own time base: events are matched to the step markers
    # of their own file only.
    steps: list[tuple[int, int, int, int]] = []  # (file, step_num, start, end)
    host_lines, device_planes = [], []
    for number, space in enumerate(spaces):
        for plane in space.planes:
            if plane.name.startswith("/device:"):
                device_planes.append((number, plane))
                continue
            for line in plane.lines:
                host_lines.append((number, plane, line))
                for name, start, duration, event in _events(plane, line):
                    if name != STEP_MARKER:
                        continue
                    stats = _stats(plane, event)
                    if "step_num" in stats:
                        steps.append((number, int(stats["step_num"] or 0), start, start + duration))
    steps.sort(key=lambda s: (s[1], s[2]))
    spans: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for number, _, begin, end in steps:
        spans[number].append((begin, end))

    def in_step(number: int, start: int) -> bool:
        return any(begin <= start < end for begin, end in spans.get(number, ()))

    op_time: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0]))
    input_pipeline_ps = 0
    waits: dict[int, list[tuple[int, int]]] = defaultdict(list)
    host_ops: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    xla_runs: dict[int, list[tuple[int, int]]] = defaultdict(list)
    while_loops = False
    compiled_functions: set[str] = set()
    for number, plane, line in host_lines:
        is_data = line.name.startswith("tf_data")
        is_compute = line.name.startswith("tf_Compute") or line.name.startswith("tf_inter_op")
        for name, start, duration, _ in _events(plane, line):
            if not in_step(number, start):
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
                cell = op_time[classify(name)][name]
                cell[0] += duration / 1e9
                cell[1] += 1
                host_ops[name][0] += duration / 1e9
                host_ops[name][1] += 1
    device_op_names: set[str] = set()
    for number, plane in device_planes:
        for line in plane.lines:
            for name, start, duration, event in _events(plane, line):
                if not in_step(number, start):
                    continue
                op_name = str(_stats(plane, event).get("tf_op") or name)
                device_op_names.add(op_name)
                cell = op_time[classify(op_name)][op_name]
                cell[0] += duration / 1e9
                cell[1] += 1

    xla_ms = sum(_union_ps(runs) for runs in xla_runs.values()) / 1e9
    if xla_ms > 0 and not device_planes:  # on a device plane XLA kernels are already counted as ops
        op_time[XLA_PHASE]["XLA executable runs"] = [xla_ms, sum(len(runs) for runs in xla_runs.values())]
    phase_ms = {phase: sum(total for total, _ in ops.values()) for phase, ops in op_time.items()}
    total = sum(phase_ms.values())
    top = {
        phase: [
            OpTime(name, phase, round(value[0], 4), int(value[1]))
            for name, value in sorted(ops.items(), key=lambda item: -item[1][0])[:TOP_OPS]
        ]
        for phase, ops in op_time.items()
    }
    notes = []
    host_only: list[OpTime] = []
    if device_planes:
        host_only = [
            OpTime(name, classify(name), round(value[0], 4), int(value[1]))
            for name, value in sorted(host_ops.items(), key=lambda item: -item[1][0])
            if name not in device_op_names and classify(name) != OTHER
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
        notes.append(
            "the traced steps run a tf.while_loop (a recurrent layer such as GRU or LSTM): XProf's overview "
            "page shows no step time for such host-only traces (measured: "
            "0.0 ms for a GRU whose steps took 10.8 ms, "
            "12.4 ms for the same GRU unrolled; docs/performance.md); "
            "this analysis and the timing figures do not "
            "depend on it"
        )
    if not steps:
        notes.append(
            "no step markers in the trace: steps must be wrapped in tf.profiler.experimental.Trace('train', "
            "step_num=...)"
        )
    markers = [(end - start) / 1e9 for _, _, start, end in steps]
    return TraceSummary(
        files=list(files),
        traced_steps=[step for _, step, _, _ in steps],
        step_markers=len(steps),
        step_ms_mean=sum(markers) / len(markers) if markers else None,
        op_ms={phase: round(value, 4) for phase, value in sorted(phase_ms.items())},
        shares={phase: value / total for phase, value in sorted(phase_ms.items())} if total > 0 else {},
        input_pipeline_ms=input_pipeline_ps / 1e9,
        input_wait_ms=sum(end - start for spans_ in waits.values() for start, end in _outermost(spans_))
        / 1e9,
        top_ops=top,
        device_planes=list(dict.fromkeys(plane.name for _, plane in device_planes)),
        host_ops_on_gpu_run=host_only,
        notes=notes,
    )


def analyze_run_dir(
    run_dir: str | Path, device_kind: str = "cpu", scope_phases: Mapping[str, str] | None = None
) -> TraceSummary:
    """Analyze every xplane file of a run directory.

    Raises:
        UserError: no trace there.
    """
    files = find_xplane_files(run_dir)
    if not files:
        raise UserError(
            f"{run_dir}: no tf.profiler trace (plugins/profile/*/*.xplane.pb); run without --no-trace"
        )
    spaces = [read_xspace(path) for path in files]
    return analyze(spaces, device_kind, scope_phases=scope_phases, files=[str(path) for path in files])
