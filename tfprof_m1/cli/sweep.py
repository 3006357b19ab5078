"""The sweep command: one model over batch sizes (and devices), each point in a process of its own."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tfprof_m1.base.errors import UserError
from tfprof_m1.base.keras_backend import check_keras_backend
from tfprof_m1.base.safe_io import check_output_dir
from tfprof_m1.cli.common import EXIT_WRITE_FAILED, Parser, end_with_stop, say, write_stdout
from tfprof_m1.cli.run import add_config_option
from tfprof_m1.collection.interrupt import signal_of
from tfprof_m1.report.model import RunConfig
from tfprof_m1.workloads.models import MODEL_NAMES

__all__ = ["cmd_sweep", "parse_batch_sizes", "parse_devices"]


def parse_batch_sizes(text: str) -> list[int]:
    """``16,32,64`` → [16, 32, 64] (each a whole number of 1 or more in ASCII digits, at most 7 of them,
    no repeats)."""
    sizes = []
    for item in text.split(","):
        item = item.strip()
        if not (item.isascii() and item.isdigit()) or len(item) > 7 or int(item) < 1:
            raise UserError(
                f"--batch-sizes {text!r}: {item!r} is not a batch size; give whole numbers such as 16,32,64"
            )
        if int(item) in sizes:
            raise UserError(f"--batch-sizes {text!r}: {item} is given twice")
        sizes.append(int(item))
    return sorted(sizes)


def parse_devices(text: str) -> list[str]:
    """``--device cpu,gpu`` as a list; UserError for an unknown device."""
    devices = [item.strip() for item in text.split(",")]
    if (
        not devices
        or any(device not in ("cpu", "gpu") for device in devices)
        or len(set(devices)) != len(devices)
    ):
        raise UserError(f"--device {text!r}: give cpu, gpu or cpu,gpu")
    return devices


def cmd_sweep(argv: Sequence[str]) -> int:
    """Run one model over batch sizes (and devices), each point in a process of its own."""
    parser = Parser(
        prog="python -m tfprof_m1 sweep",
        description="Run one model over batch sizes (and devices) with short runs: step time and throughput "
        "per batch size with intervals, and where the GPU starts to beat the CPU.",
    )
    parser.add_argument("model", choices=MODEL_NAMES, metavar="MODEL", help="mnist, fashion_mnist or cifar10")
    parser.add_argument(
        "--batch-sizes", default="16,32,64,128,256", help="comma-separated (default 16,32,64,128,256)"
    )
    parser.add_argument("--device", default="cpu", help="cpu, gpu or cpu,gpu (default cpu)")
    add_config_option(
        parser,
        "epochs",
        default=6,
        help="epochs per point, the first is warm-up; the intervals rest on the others (default 6)",
    )
    add_config_option(parser, "steps", default=30, help="steps per epoch per point (default 30)")
    for name in ("data", "data_dir", "download", "seed"):
        add_config_option(parser, name)
    parser.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="where each point's report, run directory and sweep.json go (default sweeps/MODEL-TIME)",
    )
    parser.add_argument(
        "-o", "--plot", default=None, metavar="FILE.png|FILE.svg", help="also plot throughput by batch size"
    )
    parser.add_argument("--format", choices=("table", "markdown", "json"), default="table")
    args = parser.parse_args(argv)
    from tfprof_m1.run.sweep import run_sweep
    from tfprof_m1.views.sweep_render import plot_sweep, render_sweep

    sizes, devices = parse_batch_sizes(args.batch_sizes), parse_devices(args.device)
    if args.data_dir is not None and not args.data_dir.strip():
        raise UserError("--data-dir '': give a directory, or leave the option out to use the Keras cache")
    check_keras_backend()
    import datetime as _dt

    out_dir = Path(args.out or f"sweeps/{args.model}-{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}")
    check_output_dir("--out", out_dir)
    if args.plot is not None:
        from tfprof_m1.views.plot import check_output

        check_output_dir("-o", check_output(Path(args.plot), "sweep.png").parent)
    config = RunConfig(
        models=[args.model],
        epochs=args.epochs,
        steps=args.steps,
        data=args.data,
        data_dir=args.data_dir or None,
        download=args.download,
        seed=args.seed,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        result = run_sweep(config, sizes, devices, out_dir, say)
    except KeyboardInterrupt as stop:  # sweep.json holds every point so far, each point its report
        done = getattr(stop, "result", None)
        reports = [point.report for point in done.points if point.report] if done is not None else []
        files = [str(path) for path in (*reports, out_dir / "sweep.json") if Path(path).is_file()]
        return end_with_stop(signal_of(stop), ", ".join(files))
    text = (
        result.to_json() + "\n"
        if args.format == "json"
        else render_sweep(result, markdown=args.format == "markdown")
    )
    write_stdout(text)
    if args.plot is not None:
        say(f"wrote {plot_sweep(result, Path(args.plot))}")
    say(f"sweep written to {out_dir / 'sweep.json'}")
    return EXIT_WRITE_FAILED if any(point.problem for point in result.points) else 0
