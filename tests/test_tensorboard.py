"""A run directory opened by a real TensorBoard, queried over loopback HTTP."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import run_cli
from tests.tensorboard_server import TensorBoard
from tfprof_m1.views.tensorboard_writer import PHASE_TAG, STEP_TIME_TAG, SUMMARY_TEXT_TAG

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("runs")
    result = run_cli(
        "mnist", "--epochs", "2", "--steps", "20", "--data", "synthetic", "--logdir", str(logdir), "--no-peak"
    )
    assert result.returncode == 0, result.stderr
    return logdir


def test_run_directory_holds_events_trace_and_report(logdir):
    (run_dir,) = logdir.iterdir()
    assert run_dir.name.startswith("mnist-cpu-")
    assert list(run_dir.glob("events.out.tfevents.*"))
    assert list(run_dir.glob("plugins/profile/*/*.xplane.pb"))
    report = json.loads((run_dir / "report.json").read_text())
    (run,) = report["runs"]
    assert run["run_dir"] == str(run_dir)
    # epoch 2 of 20 steps, off its stretch (steps 2-7, after the probe step 1: the layout of a run's
    # second epoch starts near the epoch's start): its steps 8-17
    assert run["trace"]["traced_steps"] == list(range(28, 38))
    assert run["trace"]["timing_shares"] is not None


def test_tensorboard_serves_the_profile_the_scalars_and_the_text(logdir):
    (run_dir,) = logdir.iterdir()
    with TensorBoard(logdir) as board:
        runs = board.wait_for(
            lambda: board.get("/data/plugin/profile/runs"), "the profile plugin to list the run"
        )
        (profile_run,) = [run for run in runs if run.startswith(run_dir.name + "/")]
        tools = board.get("/data/plugin/profile/run_tools", run=profile_run)
        assert "overview_page" in tools and "trace_viewer@" in tools
        overview = board.overview_page(profile_run)
        assert float(overview["steptime_ms_average"]) > 0  # XProf saw the step markers
        tags = board.wait_for(
            lambda: board.get("/data/plugin/scalars/tags").get(run_dir.name), "the scalar tags"
        )
        for tag in (
            PHASE_TAG.format(phase="forward"),
            PHASE_TAG.format(phase="backward"),
            PHASE_TAG.format(phase="input"),
            PHASE_TAG.format(phase="sync"),
            STEP_TIME_TAG,
            "epoch/loss",
            "fit/epoch_time_s",
        ):
            assert tag in tags, tag
        scalars = board.get("/data/plugin/scalars/scalars", run=run_dir.name, tag=STEP_TIME_TAG)
        assert [point[1] for point in scalars] == [1, 2]  # one value per epoch, step = epoch
        # the custom-scalars layout: one chart holds every phase, its regexes match what was written
        layout = board.wait_for(
            lambda: board.get("/data/plugin/custom_scalars/layout").get("category"), "the layout"
        )
        (category,) = layout
        charts = {chart["title"]: chart["multiline"]["tag"][0] for chart in category["chart"]}
        per_step = [tag for tag in tags if re.match(charts["every phase, ms per step (median)"], tag)]
        assert {PHASE_TAG.format(phase=name) for name in ("forward", "backward", "input")} <= set(per_step)
        shares = [tag for tag in tags if re.match(charts["every phase, % of the epoch"], tag)]
        # one unit a chart: the step time in ms and fit's epoch time in s are charts of their own
        assert [tag for tag in tags if re.match(charts["step time (ms)"], tag)] == [STEP_TIME_TAG]
        assert not any(re.match(charts["step time (ms)"], tag) for tag in tags if tag.startswith("fit/"))
        assert "phase_share/backward" in shares and "phase_share/other" in shares
        # In %, not a fraction: a phase's scalars are its shares in the report × 100, checked on the
        # phase with the largest share (over 1 % whatever the machine: the shares add up to 100 %).
        epochs = json.loads((run_dir / "report.json").read_text())["runs"][0]["epochs"]
        last = {p["phase"]: p["share"] for p in epochs[-1]["phases"]}
        biggest = max(last, key=last.__getitem__)
        expected = [100.0 * p["share"] for e in epochs for p in e["phases"] if p["phase"] == biggest]
        points = board.get("/data/plugin/scalars/scalars", run=run_dir.name, tag=f"phase_share/{biggest}")
        assert [point[2] for point in points] == pytest.approx(expected, rel=1e-6, abs=1e-6)  # float32
        assert expected[-1] > 1.0
        text_tags = board.wait_for(
            lambda: board.get("/data/plugin/text/tags").get(run_dir.name), "the text summary"
        )
        assert SUMMARY_TEXT_TAG in text_tags
        text = board.get("/data/plugin/text/text", run=run_dir.name, tag=SUMMARY_TEXT_TAG)
        assert "Headline" in text[0]["text"] and "backward" in text[0]["text"]
