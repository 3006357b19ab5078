"""GPU validation, ready to run on a CUDA machine (not yet run on a GPU by this project).

    .venv/bin/python benchmarks/gpu_check.py --output gpu_check.md

Runs ``python -m tfprof_m1 cifar10`` on the GPU at batch 32 and 256 (2 epochs, a trace of 10
steps in epoch 2, no fit; a few minutes in all), then, for each run, sets beside each other:

- the device-inclusive forward/backward/optimizer shares tfprof_m1 measured (probe steps), and
- the device time per phase from the trace (``trace``'s ``device_ms``: the kernels on the device
  planes' stream lines only, XProf's derived lines skipped, each kernel under its TensorFlow op's
  phase, memory copies apart as ``transfer``, overlapping kernels of a phase counted once; the
  reader checked against XProf's own kernel_stats in docs/performance.md),

plus the profiled/unprofiled throughput with its interval. One Markdown file is written.
``--allow-cpu`` rehearses the plumbing on a machine without a GPU (the trace then has no device
plane and the device column says so).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BATCHES = {32: 400, 256: 120}  # batch size -> steps per epoch (keeps the whole check under 8 minutes)
MATH = ("forward", "backward", "optimizer")


def markdown_rows(report: dict[str, Any], busy_ms: dict[str, float]) -> list[str]:
    """Table rows for one run: the report's device-inclusive shares beside the trace's device shares."""
    run = report["runs"][0]
    parts = {part["part"]: part for part in run["steady"]["parts"]}
    busy_total = sum(busy_ms.get(name, 0.0) for name in MATH)
    rows = []
    for name in MATH:
        part = parts.get(name)
        measured = (
            f"{part['math_share']['point']:.1%} "
            f"[{part['math_share']['low']:.1%}–{part['math_share']['high']:.1%}]"
            if part
            else "—"
        )
        device = (
            f"{busy_ms.get(name, 0.0):.3f} ms ({busy_ms.get(name, 0.0) / busy_total:.1%})"
            if busy_total
            else "no device plane"
        )
        host_wait = f"{part['host_ms']:.3f} / {part['wait_ms']:.3f}" if part else "—"
        rows.append(f"| {run['batch_size']} | {name} | {measured} | {host_wait} | {device} |")
    return rows


def cost_line(report: dict[str, Any]) -> str:
    run = report["runs"][0]
    cost = run["steady"]["profiling_cost"]
    execution = run["steady"]["execution"] or {}
    if cost is None:
        return f"- batch {run['batch_size']}: profiling cost not measured"
    return (
        f"- batch {run['batch_size']}: profiled/unprofiled per-step time {cost['ratio']['point']:.3f}× "
        f"[{cost['ratio']['low']:.3f}–{cost['ratio']['high']:.3f}] ({cost['profiled_step_ms']:.3f} vs "
        f"{cost['unprofiled_step_ms']:.3f} ms/step); execution {execution.get('mode', '?')}"
    )


def step_line(report: dict[str, Any], trace: Any) -> str:
    """The traced steps' device busy and idle time, as the trace tells them."""
    batch = report["runs"][0]["batch_size"]
    steps = [step for step in trace.steps if step.device_busy_ms is not None]
    if not steps:
        return f"- batch {batch}: the trace has no device activity in its steps"
    busy = sum(step.device_busy_ms for step in steps) / len(steps)
    idle = sum(step.device_idle_ms for step in steps) / len(steps)
    bound = sum(step.bound == "host" for step in steps)
    return (
        f"- batch {batch}: traced steps {trace.step_ms_mean:.3f} ms on average, device busy {busy:.3f} ms, "
        f"idle {idle:.3f} ms; {bound} of {len(steps)} steps host-bound (device idle more than busy)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="gpu_check.md")
    parser.add_argument("--allow-cpu", action="store_true", help="rehearse on a machine without a GPU")
    args = parser.parse_args()

    from tfprof_m1.trace.xplane import analyze_run_dir

    work = Path(tempfile.mkdtemp(prefix="tfprof_m1-gpu-check-"))
    lines = [
        "# tfprof_m1 GPU check: device-inclusive parts against the trace's device planes",
        "",
        "| batch | part | tfprof_m1 share of fwd+bwd+opt [95 % CI] | "
        "host / device wait (ms) | device busy in trace |",
        "|---|---|---|---|---|",
    ]
    costs = []
    for batch, steps in BATCHES.items():
        out = work / f"batch{batch}.json"
        command = [
            sys.executable,
            "-m",
            "tfprof_m1",
            "cifar10",
            "--device",
            "cpu" if args.allow_cpu else "gpu",
            "--batch-size",
            str(batch),
            "--epochs",
            "2",
            "--steps",
            str(steps),
            "--no-fit",
            "--no-peak",
            "--logdir",
            str(work / "runs"),
            "--json",
            str(out),
        ]
        print("running:", " ".join(command), file=sys.stderr)
        if subprocess.run(command, stdout=subprocess.DEVNULL).returncode != 0:
            print(
                f"gpu_check: the batch-{batch} run failed (see above); is "
                "there a CUDA GPU? (--allow-cpu to rehearse)",
                file=sys.stderr,
            )
            return 1
        report = json.loads(out.read_text())
        run_dir = report["runs"][0]["run_dir"]
        trace = analyze_run_dir(run_dir, "gpu") if run_dir else None
        lines += markdown_rows(report, trace.device_ms if trace else {})
        costs.append(cost_line(report))
        if trace is not None:
            costs.append(step_line(report, trace))
        device = report["environment"]["device_label"]
    lines += ["", *costs, "", f"Device: {device}. Command: `python benchmarks/gpu_check.py`."]
    Path(args.output).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
