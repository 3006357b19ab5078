"""Does XProf agree with tfprof_m1? Two checks, each printing Markdown tables for docs/performance.md.

    .venv/bin/python benchmarks/xprof_check.py cifar10            # default run: 3 epochs, whole epochs
    .venv/bin/python benchmarks/xprof_check.py --trace DIR [DIR ...]   # traces written elsewhere

With a model, it runs it, opens its trace in a real TensorBoard on loopback, and compares the
overview page's average step time with the report's own timing of the same steps; then it checks the
run's trace as ``--trace`` does.

With ``--trace``, each run directory's trace (a public CUDA trace, Keras's callback logs, a run of this
project) is read by ``trace`` and by XProf's own converters
(``xprof.convert.raw_to_tool_data.xspace_to_tool_data``), and set side by side: time per phase (device
traces: the kernels, against ``kernel_stats`` summed by the same name rules and against the trace's own
``TensorFlow Ops`` line; host-only traces: host op time against ``framework_op_stats``' host ops) and
the mean step time against ``overview_page``. XProf reads the whole session, ``trace`` the traced steps.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.tensorboard_server import TensorBoard  # noqa: E402


def _table(data: Any) -> list[dict[str, Any]]:
    """The rows of one of XProf's JSON data tables as dicts by column id."""
    columns = [column["id"] for column in data["cols"]]
    return [
        dict(zip(columns, [cell.get("v") if cell else None for cell in row["c"]])) for row in data["rows"]
    ]


def _tool(paths: list[str], tool: str) -> Any:
    from xprof.convert.raw_to_tool_data import xspace_to_tool_data

    return json.loads(xspace_to_tool_data(paths, tool, {})[0])


def _added(pairs: Any) -> dict[str, float]:
    totals: dict[str, float] = {}
    for phase, ms in pairs:
        totals[phase] = totals.get(phase, 0.0) + ms
    return totals


def xprof_phases(paths: list[str], device: bool) -> tuple[str, dict[str, float]]:
    """(what XProf figure, ms per phase) by tfprof_m1's name rules: kernel_stats on device traces
    (a kernel XProf names no op for is 'no op named'), framework_op_stats' host ops otherwise."""
    from tfprof_m1.trace.xplane import classify_op

    if device:
        rows = _table(_tool(paths, "kernel_stats"))
        return "kernel_stats", _added(
            (
                classify_op(row["op_name"] + ":x") if row["op_name"] else "no op named",
                row["total_duration_us"] / 1000,
            )
            for row in rows
        )
    tables = _tool(paths, "framework_op_stats")
    rows = _table(tables[0] if isinstance(tables, list) else tables)
    return "framework_op_stats, host ops", _added(
        (classify_op(f"{row['operation']}:{row['type']}"), row["total_self_time"] / 1000)
        for row in rows
        if row["host_or_device"] == "Host" and row["type"] not in ("IDLE", "Dataset")
    )


def tf_ops_line(paths: list[str]) -> dict[str, float]:
    """Per phase, the trace's own ``TensorFlow Ops`` lines (XProf's derived per-op device time)."""
    from tfprof_m1.trace.steps import DERIVED_LINE_MIN, is_device_plane, line_events
    from tfprof_m1.trace.xplane import classify_op, read_xspace

    pairs = []
    for path in paths:
        for plane in read_xspace(path).planes:
            for line in plane.lines if is_device_plane(plane) else ():
                if (line.id & 0xFFFFFFFF) == DERIVED_LINE_MIN + 3:
                    pairs += [
                        (classify_op(name), duration / 1e9)
                        for name, _, duration, _ in line_events(plane, line)
                    ]
    return _added(pairs)


def check_trace(run_dir: Path) -> list[str]:
    """Markdown rows: tfprof_m1's figures beside XProf's for one run directory."""
    from tfprof_m1.trace.xplane import analyze_run_dir, find_xplane_files

    summary = analyze_run_dir(run_dir)
    paths = [str(path) for path in find_xplane_files(run_dir)]
    device = summary.measure == "device time"
    what, theirs = xprof_phases(paths, device)
    ours = {
        k: v for k, v in (summary.device_kernel_ms if device else summary.op_ms).items() if k != "transfer"
    }
    derived = tf_ops_line(paths) if device else {}
    overview = _tool(paths, "overview_page")
    step_ms = float(overview[1]["p"]["steptime_ms_average"])
    name = run_dir.name
    rows = [
        f"| {name} | steps | {len(summary.traced_steps)} ({summary.step_source}) | | | |",
        f"| {name} | mean step time (ms) | {_fmt(summary.step_ms_mean)} | overview_page {step_ms:.2f} | "
        f"{_ratio(summary.step_ms_mean, step_ms)} | |",
    ]
    for phase in sorted(set(ours) | set(theirs) | set(derived)):
        rows.append(
            f"| {name} | {phase} ({'kernels' if device else 'host ops'}, ms) | {_fmt(ours.get(phase))} | "
            f"{what} {_fmt(theirs.get(phase))} | {_ratio(ours.get(phase), theirs.get(phase))} | "
            + (
                f"TensorFlow Ops line {_fmt(derived.get(phase))} "
                f"({_ratio(ours.get(phase), derived.get(phase))})"
                if device
                else ""
            )
            + " |"
        )
    rows.append(
        f"| {name} | all (ms) | {_fmt(sum(ours.values()))} | {what} {_fmt(sum(theirs.values()))} | "
        f"{_ratio(sum(ours.values()), sum(theirs.values()))} | |"
    )
    return rows


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _ratio(ours: float | None, theirs: float | None) -> str:
    return f"{ours / theirs:.3f}" if ours and theirs else "—"


TRACE_HEADER = [
    "| trace | figure | tfprof_m1 `trace` | XProf | tfprof_m1 / XProf | XProf's derived line |",
    "|---|---|---|---|---|---|",
]


def main() -> int:
    if sys.argv[1:2] == ["--trace"]:
        print("\n".join(TRACE_HEADER + [row for folder in sys.argv[2:] for row in check_trace(Path(folder))]))
        return 0
    model = sys.argv[1] if len(sys.argv) > 1 else "cifar10"
    extra = sys.argv[2:]
    logdir = Path(tempfile.mkdtemp(prefix="xprof-check-"))
    command = [
        sys.executable,
        "-m",
        "tfprof_m1",
        model,
        "--no-fit",
        "--logdir",
        str(logdir),
        "--quiet",
        *extra,
    ]
    print("running:", " ".join(command[1:]), file=sys.stderr)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    (run_dir,) = logdir.iterdir()
    trace = json.loads((run_dir / "report.json").read_text())["runs"][0]["trace"]
    with TensorBoard(logdir) as board:
        runs = board.wait_for(lambda: board.get("/data/plugin/profile/runs"), "the profile run")
        overview = board.overview_page(runs[0])
    xprof_ms = float(overview["steptime_ms_average"])
    ours = trace["timing_step_ms_mean"]
    print("| figure | value |")
    print("|---|---|")
    print(
        f"| traced steps | {trace['traced_steps'][0]}–{trace['traced_steps'][-1]} "
        f"({trace['step_markers']} markers) |"
    )
    print(
        f"| XProf overview page: average step time (ms) | {xprof_ms:.2f} "
        f"(min {overview['steptime_ms_minimum']}, max {overview['steptime_ms_maximum']}) |"
    )
    print(f"| tfprof_m1 timing, mean of the same steps (ms) | {ours:.2f} |")
    print(f"| tfprof_m1 step markers in the trace, mean (ms) | {trace['step_ms_mean']:.2f} |")
    print(f"| XProf / tfprof_m1 | {xprof_ms / ours:.3f} |")
    print()
    print("\n".join(TRACE_HEADER + check_trace(run_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
