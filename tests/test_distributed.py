"""tf.distribute with real TensorFlow: MirroredStrategy over two logical CPUs (steps against one device,
under each executor; the CLI's mirrored run) and MultiWorkerMirroredStrategy with two local worker
processes over loopback (the launcher, bounded in time, ports chosen free).

Logical devices must exist before TensorFlow starts, so every case runs in a process of its own.
"""

from __future__ import annotations

import json
import math
import warnings

import pytest

from tests.conftest import flat, run_cli, script_figures
from tfprof_m1.base.phases import FORWARD_BACKWARD_ALL_REDUCE
from tfprof_m1.report.model import load_report
from tfprof_m1.report.step_codec import sample_columns

pytestmark = [pytest.mark.tf, pytest.mark.slow]

SHORT = ["--epochs", "2", "--steps", "16", "--data", "synthetic", "--no-peak"]
#: Three epochs: the probe cost measured in the steady epochs plans the third (where workers that
#: each used their own measurement planned different probe steps, and their collectives mismatched).
LAUNCHED = ["--epochs", "3", "--steps", "48", "--data", "synthetic", "--no-peak"]


@pytest.fixture(scope="module", params=["sync", "async"])
def steps_figures(request):
    extra = ["--async-executor"] if request.param == "async" else []
    figures = script_figures("distributed_steps.py", *extra)
    assert figures["executor_async"] is (request.param == "async")
    return figures


def test_every_distributed_step_trains_the_weights_one_device_trains_with_the_same_global_batch(
    steps_figures,
):
    expected = (
        {"split", "probe"}
        if steps_figures["executor_async"]
        else {"split", "probe", "fused", "split_plain_loss"}
    )
    assert set(steps_figures["modes"]) == expected
    for mode, figures in steps_figures["modes"].items():
        assert figures["max_weight_difference"] < 1e-5, mode  # float rounding (measured: 3e-7)
        assert figures["replicas_apart"] == 0.0, mode  # every replica holds the same weights
        assert figures["metrics"] == pytest.approx(steps_figures["single_metrics"], rel=1e-5), (
            mode
        )  # loss unscaled once
        assert figures["examples"] == [64] * 6, mode  # the global batch, counted over the local replicas


def test_split_step_times_forward_backward_all_reduce_optimizer_apart_and_probes_measure_the_all_reduce(
    steps_figures,
):
    split = steps_figures["modes"]["split"]
    for phases, wall in zip(split["step_phases"], split["step_wall_ms"]):
        assert all(phases[name] > 0 for name in ("forward", "backward", "all_reduce", "optimizer")), phases
        inside = sum(
            value for name, value in phases.items() if name != "input"
        )  # input is fetched before the step
        assert inside <= wall * 1.001
    probe = steps_figures["modes"]["probe"]
    assert "forward_backward_all_reduce" in probe["sample_variants"]
    assert list(probe["parts_ms"]) == ["call", "forward", "backward", "all_reduce", "optimizer"]
    # This model's all-reduce (13 k values) is within 6 probe steps' noise (measured -0.2 ms once): its
    # sign is asserted in the CLI runs below, where mnist's is a quarter of the step.
    assert abs(probe["parts_ms"]["all_reduce"]) < max(split["step_wall_ms"])
    for figures in steps_figures["modes"].values():  # the epoch adds up, and little is left unexplained
        assert sum(figures["epoch_phases_ms"].values()) == pytest.approx(figures["epoch_wall_ms"], rel=1e-6)
        assert figures["epoch_phases_ms"].get("other", 0.0) < 0.1 * figures["epoch_wall_ms"]


@pytest.fixture(scope="module")
def mirrored_run(tmp_path_factory):
    where = tmp_path_factory.mktemp("mirrored")
    result = run_cli(
        "mnist",
        "--strategy",
        "mirrored",
        "--replicas",
        "2",
        *SHORT,
        "--logdir",
        "runs",
        "--json",
        "out.json",
        "--format",
        "markdown",
        cwd=where,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return where, result


def test_a_mirrored_cli_run_reports_its_replicas_the_all_reduce_and_the_scaling_against_one_replica(
    mirrored_run,
):
    where, result = mirrored_run
    (run,) = load_report(where / "out.json").runs
    spread = run.distribution
    assert spread.strategy == "mirrored" and spread.replicas == 2 and spread.per_replica_batch == 32
    gpus = load_report(where / "out.json").environment.gpus
    assert len(spread.devices) == 2 and spread.logical_cpu_devices == (len(gpus) < 2)  # fewer GPUs: said so
    assert run.batch_size == 64 and run.epochs[0].examples == 16 * 64
    parts = {part.part: part for part in run.steady.parts}
    # the all-reduce is timed apart, by its own probe call on every probe step; this short run has
    # few of them, and a part's median can fall below 0 on a busy host (a fresh clone's run read
    # -0.094 ms from one sample), its share then 0: the documented rule, not a fault
    columns = [sample_columns(epoch.samples) for epoch in run.epochs if len(epoch.samples)]
    assert columns and all(FORWARD_BACKWARD_ALL_REDUCE in column for column in columns)
    all_reduce = parts["all_reduce"]
    assert math.isfinite(all_reduce.ms) and all_reduce.share.point >= 0
    assert 0 <= all_reduce.share.low <= all_reduce.share.point <= all_reduce.share.high <= 1
    assert "all_reduce" in {phase.phase for phase in run.steady.phases}
    for epoch in run.epochs:
        assert sum(phase.total_ms for phase in epoch.phases) == pytest.approx(epoch.wall_ms, rel=1e-6)
    scaling = run.scaling
    assert scaling.replicas == 2 and scaling.baseline_examples_per_s > 0
    assert scaling.efficiency == pytest.approx(scaling.examples_per_s / (2 * scaling.baseline_examples_per_s))
    assert scaling.efficiency_interval is None  # one steady epoch a side: no spread to show
    assert run.fit is not None and len(run.fit.epoch_ms) == 2  # the headline under the strategy
    assert "distributed: mirrored, 2 replicas × batch 32 (global batch 64)" in result.stdout
    assert "logical CPU devices carved out of one CPU" in result.stdout
    assert "no interval: one steady epoch on a side" in result.stdout
    assert "single-replica baseline" in result.stderr


def _launch_once(where):
    return run_cli(
        "launch",
        "--workers",
        "2",
        "--out",
        "mw",
        "--timeout",
        "240",
        "mnist",
        *LAUNCHED,
        "--trace-steps",
        "20:24",
        cwd=where,
        timeout=300,
    )


def _ending(stderr: str) -> str:
    """What a failed launch said of its workers: the launcher's own lines and each worker's last."""
    lines = stderr.splitlines()
    own = [line for line in lines if not line.startswith("[worker ")]
    last = {
        prefix: [line for line in lines if line.startswith(prefix)][-8:]
        for prefix in ("[worker 0]", "[worker 1]")
    }
    return "\n".join([*own[-12:], *last["[worker 0]"], *last["[worker 1]"]])


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    where = tmp_path_factory.mktemp("multiworker")
    result = _launch_once(where)
    if result.returncode != 0 and "killed by SIG" in result.stderr:
        # A worker TensorFlow aborted (SIGABRT once in CI, on 2 cores under the suite; not in 5 runs
        # here): the launcher names the signal and the worker's last C++ line, kept in the warning,
        # and the launch runs once more. A worker that failed with its own error fails at once.
        warnings.warn(
            f"a launched worker was killed by a signal; launching again:\n{_ending(result.stderr)}",
            stacklevel=1,
        )
        where = tmp_path_factory.mktemp("multiworker-again")
        result = _launch_once(where)
    assert result.returncode == 0, _ending(result.stderr)
    return where / "mw", result


def test_two_local_workers_report_their_all_reduce_and_the_merged_view_gives_the_slowest_worker_and_scaling(
    launched,
):
    out, result = launched
    reports = [load_report(out / f"worker-{index}.json") for index in (0, 1)]
    for index, report in enumerate(reports):
        (run,) = report.runs
        assert run.distribution.strategy == "multiworker" and run.distribution.worker == index
        assert run.distribution.replicas == 2 and len(run.distribution.workers) == 2
        assert all(address.startswith("127.0.0.1:") for address in run.distribution.workers)
        assert {part.part: part.ms for part in run.steady.parts}["all_reduce"] > 0
        for epoch in run.epochs:  # the phases add up on every worker
            assert sum(phase.total_ms for phase in epoch.phases) == pytest.approx(epoch.wall_ms, rel=1e-6)
        assert run.fit is None and any("MultiWorkerMirroredStrategy" in warning for warning in run.warnings)
    assert (
        reports[0].runs[0].scaling is not None and reports[1].runs[0].scaling is None
    )  # worker 0 runs the baseline
    merged = json.loads((out / "merged.json").read_text())
    (model,) = merged["runs"]
    assert [worker["worker"] for worker in model["workers"]] == [0, 1] and model["aligned_steps"] > 0
    assert (
        model["slowest_step_median_ms"] >= max(worker["step_median_ms"] for worker in model["workers"]) * 0.5
    )
    assert model["scaling"]["replicas"] == 2 and model["scaling"]["efficiency"] > 0
    assert "merged over 2 workers" in result.stdout and "[worker 1] " in result.stderr
    # One trace per worker, the same global steps marked on both: TensorBoard shows them side by side.
    traced = []
    for index in (0, 1):
        (run_dir,) = out.glob(f"mnist-*-worker{index}")
        trace = run_cli("trace", str(run_dir), "--format", "json")
        assert trace.returncode == 0, trace.stderr
        traced.append(json.loads(trace.stdout)["traced_steps"])
    assert traced[0] == traced[1] == [20, 21, 22, 23]


def test_every_worker_runs_the_same_probe_steps_in_every_epoch(launched):
    out, _ = launched
    kinds = [
        [epoch.step_kinds for epoch in load_report(out / f"worker-{index}.json").runs[0].epochs]
        for index in (0, 1)
    ]
    assert len(kinds[0]) == 3 and kinds[0] == kinds[1]  # planned from the probe cost both agreed on
    assert [epoch.count("probe") for epoch in kinds[0]][:2] == [1, 1]
    assert all(epoch.count("block") > epoch.count("fused") for epoch in kinds[0])  # blocks, few fenced


def test_compare_takes_distributed_reports_and_keeps_strategies_and_workers_apart(mirrored_run, launched):
    (mirrored, _), (out, _) = mirrored_run, launched
    result = run_cli(
        "compare", str(mirrored / "out.json"), str(out / "worker-0.json"), str(out / "worker-1.json")
    )
    assert result.returncode == 0, result.stderr
    assert (
        "mirrored ×2" in result.stdout
        and "multiworker worker 0" in result.stdout
        and "multiworker worker 1" in result.stdout
    )
    assert (
        "tf.distribute strategy and replicas: mirrored, 2 replicas (logical CPU devices) against multiworker"
        in flat(result.stdout)
    )


def test_failing_workers_are_named_with_the_one_line_error_they_sent_back(tmp_path):
    empty = tmp_path / "no-data"
    empty.mkdir()
    result = run_cli(
        "launch", "--workers", "2", "--out", "mw", "--timeout", "240", "mnist", "--epochs", "2",
        "--data", "real", "--data-dir", str(empty), "--no-download", cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    named = [line for line in result.stderr.splitlines() if line.startswith("worker ") and ": exit " in line]
    assert named, result.stderr[-3000:]
    for line in named:  # a worker that failed says why; one the launcher ended says it was stopped,
        # by its own words once its stop handling is in place, by the launcher's before (still starting)
        assert (
            line.endswith("or use --data synthetic")
            or "tfprof_m1: stopped by SIGTERM" in line
            or "killed by SIGTERM, sent by the launcher after worker " in line
        ), line
    assert any("tfprof_m1: error: MNIST not found in " in line for line in named)
    assert not (tmp_path / "mw" / "merged.json").exists()
