"""tf.distribute's figures without training: the all-reduce part from probe samples, TF_CONFIG,
the merged multi-worker view, the scaling efficiency, the parity guard, the launcher's refusals.

Reports are built from hand-made timings through the real summary code (test data, not results);
the real strategies run in test_distributed.py.
"""

from __future__ import annotations

import json
import socket

import pytest

from tests.conftest import run_cli
from tests.report_factory import report_from_epochs, worker_epochs, worker_report
from tfprof_m1.analysis.estimate import estimate_parts
from tfprof_m1.analysis.merge import merge_reports
from tfprof_m1.analysis.parity import checked_values, differences
from tfprof_m1.analysis.scaling import scaling_efficiency
from tfprof_m1.base.errors import UserError
from tfprof_m1.base.phases import DISTRIBUTED_PROBE_VARIANTS, PROBE_VARIANTS
from tfprof_m1.collection.strategies import Distribution, parse_tf_config
from tfprof_m1.report.interval import Interval
from tfprof_m1.report.model import PartSummary, load_report
from tfprof_m1.run.launch import free_ports, tf_config
from tfprof_m1.views.merge_render import render_merged

pytestmark = [pytest.mark.slow]

# Device-inclusive prefix times of one sampled step, ms: call 1, forward 2, backward 3, all-reduce 4,
# optimizer 5.
PREFIX_MS = {
    "empty_call": 1.0,
    "forward_only": 3.0,
    "forward_backward": 6.0,
    "forward_backward_all_reduce": 10.0,
    "full_step": 15.0,
}


def _sample(jitter: float = 0.0, variants=DISTRIBUTED_PROBE_VARIANTS) -> dict[str, list[float]]:
    return {variant: [PREFIX_MS[variant] + jitter, 0.0] for variant in variants}


def test_the_all_reduce_part_is_the_difference_of_its_prefix_calls_and_the_optimizer_loses_it():
    parts = estimate_parts([_sample(j * 0.01) for j in range(9)])
    assert list(parts.total_ms) == ["call", "forward", "backward", "all_reduce", "optimizer"]
    assert parts.total_ms["all_reduce"] == pytest.approx(4.0) and parts.total_ms[
        "optimizer"
    ] == pytest.approx(5.0)
    assert parts.shares["all_reduce"].point == pytest.approx(4.0 / sum(parts.total_ms.values()))
    assert (
        parts.math_shares["all_reduce"].point == pytest.approx(4.0 / 14.0) and "call" not in parts.math_shares
    )
    single = estimate_parts(
        [_sample(j * 0.01, PROBE_VARIANTS) for j in range(9)]
    )  # one device: four parts, as before
    assert list(single.total_ms) == ["call", "forward", "backward", "optimizer"]
    assert single.total_ms["optimizer"] == pytest.approx(9.0)


def test_tf_config_is_parsed_and_every_mistake_is_one_line_saying_what_to_set():
    workers, index = parse_tf_config(tf_config(["127.0.0.1:1", "127.0.0.1:2"], 1))
    assert workers == ["127.0.0.1:1", "127.0.0.1:2"] and index == 1
    for text, words in [
        (None, "TF_CONFIG is not set"),
        ("{", "not a cluster spec"),
        ('{"cluster": {}}', "not a cluster spec"),
        (tf_config(["a:1"], 3), "not one of the 1 workers"),
        (json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "ps", "index": 0}}), "not one of"),
    ]:
        with pytest.raises(UserError) as error:
            parse_tf_config(text)
        assert words in str(error.value) and "\n" not in str(error.value)


def test_free_ports_are_distinct_and_bindable():
    ports = free_ports(3)
    assert len(set(ports)) == 3
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_the_merged_view_takes_the_slowest_worker_per_step_and_the_gap_between_slowest_and_fastest(tmp_path):
    zero = [10.0, 30.0, 10.0, 10.0]  # worker 0 straggles on step 1
    one = [12.0, 11.0, 12.0, 12.0]
    paths = [
        worker_report(tmp_path / "w1.json", 1, one),
        worker_report(tmp_path / "w0.json", 0, zero, baseline=[100.0, 100.0]),
    ]
    view = merge_reports(paths)
    (run,) = view.runs
    assert [worker.worker for worker in run.workers] == [0, 1]  # put in worker order
    assert run.aligned_steps == 8  # two steady epochs of four steps, every worker has them
    assert run.slowest_step_median_ms == pytest.approx(12.0)  # per step: 12, 30, 12, 12 (twice)
    assert run.straggler_median_ms == pytest.approx(2.0) and run.straggler_p90_ms > 10.0
    assert run.workers[0].slowest_steps == 2 and run.workers[1].slowest_steps == 6
    assert run.examples_per_s == pytest.approx(sum(w.examples_per_s for w in run.workers))
    assert run.scaling is not None and run.scaling.replicas == 2
    assert run.scaling.efficiency == pytest.approx(run.examples_per_s / (2 * 100.0))
    text = render_merged(view, markdown=True)
    assert "| 0 " in text and "straggler gap" in text and "scaling efficiency" in text
    assert not run.notes  # nothing to say about two complete runs


def test_the_merged_view_says_which_worker_was_interrupted(tmp_path):
    paths = [
        worker_report(tmp_path / "w0.json", 0, [10.0] * 4),
        worker_report(tmp_path / "w1.json", 1, [10.0] * 4),
    ]
    stopped = load_report(paths[1])
    stopped.runs[0].interrupted = "SIGINT in loop epoch 3 of 3: 2 finished epochs kept"
    stopped.save(paths[1])
    (run,) = merge_reports(paths).runs
    assert run.notes[0] == (
        "worker 1: interrupted (SIGINT in loop epoch 3 of 3: 2 finished epochs kept); "
        "only its complete epochs are lined up"
    )
    assert "no single-replica baseline" in run.notes[1]


def test_merge_refuses_what_is_not_one_multi_worker_run_in_one_line(tmp_path):
    one = worker_report(tmp_path / "w0.json", 0, [10.0] * 4)
    again = worker_report(tmp_path / "again.json", 0, [10.0] * 4)
    plain = report_from_epochs("cpu", worker_epochs([10.0] * 4), model="mnist").save(tmp_path / "plain.json")
    for paths, words in [
        ([one], "1 of the 2 workers' reports given; add the report of worker 1"),
        ([one, again], "worker 0 again"),
        ([str(plain)], "not a multi-worker report"),
    ]:
        with pytest.raises(UserError) as error:
            merge_reports(paths)
        assert words in str(error.value) and "\n" not in str(error.value)
    result = run_cli("merge", one)
    assert (
        result.returncode == 2
        and result.stderr.count("\n") == 1
        and "add the report of worker 1" in result.stderr
    )


def test_scaling_efficiency_is_the_throughput_over_replicas_times_one_replicas_with_an_interval_around_it():
    scaling = scaling_efficiency([150.0, 160.0, 155.0], [100.0, 101.0, 99.0], 2, 3.2)
    assert scaling.efficiency == pytest.approx(155.0 / 200.0)
    interval = scaling.efficiency_interval
    assert interval.low < scaling.efficiency == interval.point < interval.high
    assert scaling.baseline_step_median_ms == 3.2
    assert scaling_efficiency([], [100.0], 2) is None and scaling_efficiency([1.0], [], 2) is None
    lone = scaling_efficiency([150.0], [100.0, 101.0], 2)  # one steady epoch: a point, no interval
    assert lone.efficiency == pytest.approx(150.0 / (2 * 100.5)) and lone.efficiency_interval is None


def test_the_parity_guard_names_a_strategy_difference():
    single = report_from_epochs("cpu", worker_epochs([10.0] * 4))
    spread = report_from_epochs("cpu", worker_epochs([10.0] * 4))
    spread.runs[0].distribution = Distribution(
        "mirrored", 2, ["/CPU:0", "/CPU:1"], 32, logical_cpu_devices=True
    )
    (line,) = [
        line
        for line in differences(
            checked_values(single, single.runs[0]), checked_values(spread, spread.runs[0])
        )
        if "tf.distribute" in line
    ]
    assert "one device against mirrored, 2 replicas (logical CPU devices)" in line


@pytest.mark.parametrize(
    "argv, words",
    [
        (["launch", "mnist", "--strategy", "one"], "--strategy: the launcher sets it"),
        (["launch", "mnist", "--json", "x.json"], "--json: the launcher sets it"),
        (["launch", "--timeout", "0", "mnist"], "--timeout 0: must be more than 0"),
        (["launch", "mnist", "--epochs", "0"], "--epochs"),
        (["mnist", "--replicas", "2"], "--replicas 2: only --strategy mirrored takes a replica count"),
        (["mnist", "--strategy", "multiworker", "--data", "synthetic", "--no-peak"], "TF_CONFIG is not set"),
    ],
)
def test_launch_and_strategy_mistakes_are_refused_before_any_worker_starts(argv, words, tmp_path):
    result = run_cli(*argv, cwd=tmp_path)
    ours = [
        line for line in result.stderr.splitlines() if line.startswith("tfprof_m1:")
    ]  # TensorFlow logs its own lines
    assert (
        result.returncode == 2 and len(ours) == 1 and words in ours[0] and "Traceback" not in result.stderr
    ), result.stderr
    assert not any(tmp_path.iterdir())


def test_the_merged_view_shows_each_workers_all_reduce_share_as_the_point_of_its_interval(tmp_path):
    paths = [worker_report(tmp_path / f"w{index}.json", index, [10.0] * 4) for index in range(2)]
    for path, point in zip(paths, (0.2, 0.3)):
        report = load_report(path)
        share = Interval(point, point - 0.05, point + 0.05)
        report.runs[0].steady.parts = [PartSummary("all_reduce", 2.0, 1.5, 0.5, share, share)]
        report.save(path)
    (run,) = merge_reports(paths).runs
    assert [worker.all_reduce_share for worker in run.workers] == [0.2, 0.3]
    assert "| 20.0 %" in render_merged(merge_reports(paths), markdown=True)
