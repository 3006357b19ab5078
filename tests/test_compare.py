"""compare: ratios with intervals, shares of the difference, verdicts, repeats, labels, the CLI."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from tests.ab_runs import unprofiled_epoch
from tests.conftest import REPO, run_cli
from tests.report_factory import make_report, probed_report
from tfprof_m1.analysis.compare import compare
from tfprof_m1.base.errors import UserError
from tfprof_m1.views.compare_render import render_comparison

pytestmark = [pytest.mark.slow]


def _save(tmp_path, name, report):
    path = tmp_path / f"{name}.json"
    report.save(path)
    return path


def test_gpu_shaped_reports_give_ratios_shares_and_a_verdict(tmp_path):
    """Test data shaped like an M1 run against a Colab T4 run; not measurements."""
    metal = _save(tmp_path, "m1", make_report(label="metal:Apple M1", scale=2.0, epochs=4))
    cuda = _save(tmp_path, "t4", make_report(label="cuda:Tesla T4", scale=1.0, epochs=4))
    (comparison,) = compare([cuda, metal])
    (difference,) = comparison.differences
    reference, other = comparison.figures
    assert reference.label == "cuda:Tesla T4" and other.label == "metal:Apple M1"
    assert difference.epoch_ratio.point == pytest.approx(other.epoch_mean_ms / reference.epoch_mean_ms)
    assert difference.epoch_ratio.low > 1.5 and difference.epoch_clear
    shares = {p.phase: p.share_of_difference for p in difference.phases}
    assert sum(shares.values()) == pytest.approx(1.0)  # the phases add up to the epoch, so do their shares
    # compute scales 2x, input and sync do not: backward (60 % of compute) explains most of the gap
    assert max(shares, key=shares.get) == "backward"
    delta = other.epoch_mean_ms - reference.epoch_mean_ms
    expected = (other.phase_mean_ms("backward") - reference.phase_mean_ms("backward")) / delta
    assert shares["backward"] == pytest.approx(expected)
    backward = next(p for p in difference.phases if p.phase == "backward")
    assert backward.ratio == pytest.approx(2.0, rel=0.01) and backward.clear
    assert difference.verdict.startswith("cifar10: metal:Apple M1 is ")
    assert "slower than cuda:Tesla T4" in difference.verdict and "backward" in difference.verdict
    assert difference.confounds == []


def test_same_figures_are_no_clear_difference(tmp_path):
    first = _save(tmp_path, "a", make_report(label="cpu", scale=1.0, epochs=4))
    second = _save(tmp_path, "b", make_report(label="cuda:Tesla T4", scale=1.0, epochs=4))
    (comparison,) = compare([first, second])
    (difference,) = comparison.differences
    assert not difference.epoch_clear and difference.epoch_ratio.contains(1.0)
    assert "no clear difference" in difference.verdict


def test_repeats_are_pooled_and_configuration_differences_flagged(tmp_path):
    one = _save(tmp_path, "one", make_report(label="cpu"))
    again = _save(tmp_path, "again", make_report(label="cpu", scale=1.05))  # a repeat: other times
    bigger = _save(tmp_path, "big", make_report(label="cpu", batch_size=64))
    (comparison,) = compare([one, again, bigger])
    assert [f.repeats for f in comparison.figures] == [2, 1]
    # sides on one machine are named by what differs
    assert [f.label for f in comparison.figures] == ["batch 32", "batch 64"]
    assert comparison.differences[0].confounds == [
        "batch size: 32 against 64; affects per-step and per-epoch figures (compare the time per example)"
    ]
    (alone,) = compare([one, again])  # repeats on their own: their mean and spread, not an error
    assert alone.differences == [] and alone.spread.runs == 2
    assert (
        alone.spread.epoch_ms.low - 1e-9 <= alone.spread.epoch_ms.point <= alone.spread.epoch_ms.high + 1e-9
    )
    assert "cpu on its own (2 runs): mean steady epoch" in render_comparison([alone])
    (once,) = compare([one, one])  # the same report twice: said, and counted once
    assert once.spread.runs == 1 and once.notes == [f"{one} is the same report as {one}: counted once"]
    assert "counted once" in render_comparison([once])


def test_only_models_present_in_all_reports_are_compared(tmp_path):
    both = _save(tmp_path, "both", make_report(label="cpu", models=("mnist", "cifar10")))
    cifar = _save(tmp_path, "cifar", make_report(label="cuda:Tesla T4", models=("cifar10",)))
    assert [c.model for c in compare([both, cifar])] == ["cifar10"]
    mnist = _save(tmp_path, "mnist", make_report(label="metal:Apple M1", models=("mnist",)))
    with pytest.raises(UserError, match="no model in common"):
        compare([cifar, mnist])


def test_different_models_on_one_machine_are_named_once_in_the_title(tmp_path):
    mnist = _save(tmp_path, "mnist", make_report(label="cpu", models=("mnist",)))
    cifar = _save(tmp_path, "cifar", make_report(label="cpu", models=("cifar10",)))
    (comparison,) = compare([mnist, cifar])
    labels = " vs ".join(f.label for f in comparison.figures)
    title = render_comparison([comparison]).splitlines()[0]
    assert title.count(labels) == 1 and title.startswith(labels)


def test_the_profiling_cost_taken_out_has_no_share_of_the_difference(tmp_path):
    one = _save(tmp_path, "one", probed_report())
    moved = probed_report()
    moved.environment.device_label = "cuda:Tesla T4"  # another machine (test data)
    other = _save(tmp_path, "other", moved)
    rows = [line for line in render_comparison(compare([one, other])).splitlines() if "taken out (" in line]
    assert len(rows) == 1 and "not in any figure compared" in rows[0] and "%" not in rows[0]


def test_phase_shares_are_not_shown_when_the_total_may_be_no_change(tmp_path):
    from tests.report_factory import report_from_epochs, timed_epochs

    def side(name: str, label: str, mean_ms: float, seed: int):
        epochs = timed_epochs(lambda rng, n: rng.normal(mean_ms, 1.0, n), seed=seed)
        return _save(tmp_path, name, report_from_epochs(label, epochs))

    reference = side("ref", "cpu", 10.0, 0)
    for mean_ms, shown in ((10.0, False), (14.0, True)):
        (comparison,) = compare([reference, side(f"o{mean_ms}", "cuda:Tesla T4", mean_ms, 1)])
        (difference,) = comparison.differences
        assert difference.judged_ratio.contains(1.0) != shown
        (row,) = [line for line in render_comparison([comparison]).splitlines() if line.startswith("compute")]
        assert row.rstrip().endswith("%") == shown and row.rstrip().endswith("—") != shown


def _named_in_verdict(verdict: str) -> set[str]:
    """The phases a verdict names as what explains the difference ("of the difference, a 60 %, b 20 %")."""
    if "of the difference, " not in verdict:
        return set()
    return {item.split()[0] for item in verdict.split("of the difference, ")[1].rstrip(".").split(", ")}


def test_the_verdict_names_only_phases_whose_own_change_is_clear(tmp_path):
    """A trial's verdict named "input 37 %" where the input row read "not clear". Here compute grows
    by 3 ms a step with little noise and a custom phase by 0.7 ms with epoch-to-epoch noise several
    times that: the epoch is clearly slower, the custom phase holds 19 % of the difference with an
    interval around 0, and only compute is named."""
    from tests.report_factory import report_from_epochs
    from tfprof_m1.collection.profiler import EpochTiming
    from tfprof_m1.collection.step_table import StepTiming

    def side(name: str, label: str, compute_ms: float, augment_ms: list[float], seed: int):
        rng = np.random.default_rng(seed)
        epochs = []
        for index, augment in enumerate(augment_ms):
            steps = [
                StepTiming("fused", 32, 0.2 + c + augment, {"input": 0.2, "compute": c, "augment": augment})
                for c in rng.normal(compute_ms, 0.05, 100).tolist()
            ]
            epochs.append(EpochTiming(index, sum(s.wall_ms for s in steps) + 0.5, steps, {}, complete=True))
        return _save(tmp_path, name, report_from_epochs(label, epochs))

    reference = side("ref", "cpu", 10.0, [2, 1, 3, 0.5, 3.5, 1.5, 2.5, 2.0], 0)
    other = side("other", "cuda:Tesla T4", 13.0, [4, 1, 5, 0.5, 2, 3.5, 3, 4], 1)
    (comparison,) = compare([reference, other])
    (difference,) = comparison.differences
    rows = {row.phase: row for row in difference.phases}
    assert difference.epoch_clear and rows["compute"].clear
    assert not rows["augment"].clear and rows["augment"].share_of_difference >= 0.15  # once named
    assert _named_in_verdict(difference.verdict) == {"compute"}


@pytest.fixture(scope="module")
def real_reports(tmp_path_factory):
    """Real runs here: batch 32 run twice in one process (--repeats 2) and batch 64 with --device cpu."""
    directory = tmp_path_factory.mktemp("real")
    paths = []
    for name, extra in (("b32", ["--repeats", "2"]), ("b64", ["--batch-size", "64", "--device", "cpu"])):
        path = directory / f"{name}.json"
        result = run_cli(
            "mnist",
            "--epochs",
            "4",
            "--steps",
            "15",
            "--data",
            "synthetic",
            "--no-fit",
            "--quiet",
            "--no-peak",
            "--json",
            str(path),
            *extra,
        )
        assert result.returncode == 0, result.stderr
        paths.append(path)
    return paths


def test_compare_on_real_runs_from_the_command_line(real_reports):
    b32, b64 = real_reports
    assert [run["repeat"] for run in json.loads(b32.read_text())["runs"]] == [1, 2]
    result = run_cli(
        "compare", str(b32), str(b64), "--format", "markdown", "--label", "batch 32", "--label", "batch 64"
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "### mnist: batch 32 vs batch 64" in out
    assert "batch 32: 2 runs, 6 steady epochs" in out and "batch 64: 1 run, 3 steady epochs" in out
    assert "what differs (batch 64 against the reference): batch size: 32 against 64" in out
    assert "| custom-loop epoch, steady (s)" in out and "| custom-loop time per example (µs)" in out
    # batch sizes differ: the verdict is on the time per example of the unprofiled-equivalent epoch,
    # computed here from the JSON: mean over runs of each run's mean
    runs = [run for path in (b32, b64) for run in json.loads(path.read_text())["runs"]]
    means = [unprofiled_epoch(run, per_example=True) for run in runs]
    ratio = means[2] / ((means[0] + means[1]) / 2)
    assert (
        f"{max(ratio, 1 / ratio):.2f}× {'slower' if ratio >= 1 else 'faster'}" in out
        or f"no clear difference ({ratio:.2f}×" in out
    )
    assert "mnist: batch 64 is " in out or "mnist: no clear difference between batch 64 and batch 32" in out
    # what the verdict names is a phase whose own change is clear, and no part either side rests on
    # too few probe steps for (these runs of 4 × 15 steps)
    for comparison in compare([b32, b64]):
        unread = frozenset().union(*(side.unread_parts for side in comparison.figures))
        for difference in comparison.differences:
            clear = {row.phase for row in difference.phases if row.clear}
            assert _named_in_verdict(difference.verdict) <= clear - unread
    bad = run_cli("compare", str(b32), str(b64), "--label", "a", "--label", "b", "--label", "c")
    assert bad.returncode == 2 and "3 labels for 2 reports" in bad.stderr


def test_compare_does_not_import_tensorflow(real_reports):
    code = (
        "import sys; from tfprof_m1.cli import main; rc = main(['compare'] + sys.argv[1:]); "
        "print('TF' if 'tensorflow' in sys.modules else 'noTF', file=sys.stderr); sys.exit(rc)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, *map(str, real_reports)], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.split()[-1] == "noTF"


def test_compare_errors_are_one_line(tmp_path):
    result = run_cli("compare", str(tmp_path / "nope.json"), str(tmp_path / "nope2.json"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no such report file" in result.stderr


def test_profiled_fit_epochs_are_named_as_fit_epochs_not_custom_loop_ones(tmp_path):
    """A ProfileCallback report's profiled epochs are fit's: compare names its rows and verdict so
    (a trial user read "custom-loop epoch" for two fit-callback reports)."""
    import dataclasses

    def fit_report(label: str, scale: float = 1.0):
        report = make_report(label=label, scale=scale)
        return dataclasses.replace(
            report, runs=[dataclasses.replace(run, source="fit") for run in report.runs]
        )

    cpu, gpu = (
        _save(tmp_path, "cpu", fit_report("cpu")),
        _save(tmp_path, "gpu", fit_report("cuda:Tesla T4", 0.5)),
    )
    text = render_comparison(compare([cpu, gpu]))
    assert "profiled fit epoch, steady (s)" in text and "profiled fit time per example" in text
    assert "custom-loop" not in text.split("Ratios are")[0]
    loop = _save(tmp_path, "loop", make_report(label="cuda:Tesla T4", scale=0.5))
    assert "profiled (custom loop or fit)" in render_comparison(compare([cpu, loop]))


def test_a_phase_timed_once_an_epoch_is_compared_per_epoch_not_per_step(tmp_path):
    """fit's ``epoch_start`` sits on each epoch's first step: per step its median is 0.000, so compare
    shows it per epoch (a trial user read "epoch_start 0.000 ± 0.000" per step)."""
    import dataclasses

    from tfprof_m1.report.model import PhaseSummary

    def with_epoch_start(report, ms: float):
        def epoch(record):
            steps = len(record.step_kinds)
            step_ms = dict(record.step_ms, epoch_start=[ms] + [0.0] * (steps - 1))
            phases = [*record.phases, PhaseSummary("epoch_start", ms, ms / record.wall_ms)]
            return dataclasses.replace(record, step_ms=step_ms, phases=phases, wall_ms=record.wall_ms)

        runs = [dataclasses.replace(run, epochs=[epoch(e) for e in run.epochs]) for run in report.runs]
        return dataclasses.replace(report, runs=runs)

    cpu = _save(tmp_path, "cpu", with_epoch_start(make_report(label="cpu"), 4.0))
    gpu = _save(tmp_path, "gpu", with_epoch_start(make_report(label="cuda:Tesla T4", scale=0.5), 2.0))
    text = render_comparison(compare([cpu, gpu]))
    assert "epoch_start (ms/epoch)" in text and "epoch_start (ms/step" not in text
    assert "input (ms/step, median ± IQR)" in text  # a phase of every step stays per step


def test_a_batch_size_ab_judges_fit_per_example_as_it_judges_the_loop(tmp_path):
    """A trial's batch 32 against 64 A/B: the loop was judged per example (1.68× faster) while the
    fit row, per epoch, read "no clear difference (1.10×)" with twice the examples an epoch on one
    side. Both sides' fit epochs here take the same time, the second side's epochs hold twice the
    examples: per example it is twice as fast, and the row says so."""
    import dataclasses

    from tfprof_m1.analysis.figures import fit_report

    def side(name: str, batch: int):
        report = make_report("cpu", batch_size=batch, epochs=6)
        run = report.runs[0]
        run.fit = fit_report([300.0, 130.0, 128.0, 131.0, 129.0, 130.0], [2.0] * 6, [0.3] * 6, False)
        run.epochs = [
            dataclasses.replace(epoch, examples=epoch.examples * batch // 32) for epoch in run.epochs
        ]
        return _save(tmp_path, name, report)

    (comparison,) = compare([side("b32", 32), side("b64", 64)])
    (difference,) = comparison.differences
    assert difference.per_example and difference.fit_judged
    assert difference.fit_ratio.point == pytest.approx(0.5, rel=0.02) and difference.fit_clear
    (row,) = [
        line for line in render_comparison([comparison]).splitlines() if line.startswith("fit epoch, steady")
    ]
    assert "2.00× faster" in row and "per example" in " ".join(render_comparison([comparison]).split())


def test_no_clear_difference_on_few_units_says_what_widened_the_interval(tmp_path):
    """A trial's --repeats 3 A/B read "no clear difference" for a 36 % gain, with no word that the
    interval rests on 3 runs. Here 5 steady epochs a side, 16 % apart with epoch-to-epoch noise: the
    verdict says the interval rests on 5 steady epochs and by how much that widens it; sides that
    agree get no such words."""
    from tests.report_factory import report_from_epochs
    from tfprof_m1.analysis.compare_stats import small_sample_factor
    from tfprof_m1.collection.profiler import EpochTiming
    from tfprof_m1.collection.step_table import StepTiming

    def side(name: str, label: str, means: list[float], seed: int):
        rng = np.random.default_rng(seed)
        epochs = []
        for index, mean_ms in enumerate(means):
            steps = [
                StepTiming("fused", 32, 0.2 + c, {"input": 0.2, "compute": c})
                for c in rng.normal(mean_ms, 0.05, 100).tolist()
            ]
            epochs.append(EpochTiming(index, sum(s.wall_ms for s in steps) + 0.5, steps, {}, complete=True))
        return _save(tmp_path, name, report_from_epochs(label, epochs))

    reference = side("ref", "cpu", [10, 10, 14, 8, 12, 9], 0)
    (comparison,) = compare([reference, side("other", "cuda:Tesla T4", [10, 12, 16, 9, 15, 11], 1)])
    verdict = comparison.differences[0].verdict
    assert verdict.startswith("cifar10: no clear difference")
    assert f"rests on 5 steady epochs a side, which widens it {small_sample_factor(5):.1f}×" in verdict
    (same,) = compare([reference, side("same", "cuda:Tesla T4", [10, 10, 14, 8, 12, 9], 2)])
    assert "rests on" not in same.differences[0].verdict


def test_a_profiling_cost_below_zero_taken_out_is_explained(tmp_path):
    """A stated cost under 1 (a noisy reference of few stretches) takes out a negative time: the
    row shows it and a note says what it means (a trial saw "-28.6" with no word)."""
    import dataclasses

    from tfprof_m1.report.interval import Interval

    one = _save(tmp_path, "one", probed_report())
    faster = probed_report()
    faster.environment.device_label = "cuda:Tesla T4"  # another machine (test data)
    steady = faster.runs[0].steady
    steady.profiling_cost = dataclasses.replace(steady.profiling_cost, ratio=Interval(0.9, 0.7, 1.2))
    other = _save(tmp_path, "other", faster)
    (comparison,) = compare([one, other])
    assert comparison.figures[1].profiling_ms < 0 <= comparison.figures[0].profiling_ms
    text = " ".join(render_comparison([comparison]).split())
    assert "cuda:Tesla T4: its profiling cost taken out is below 0" in text
    assert "its profiling cost taken out is below 0" not in text.replace("cuda:Tesla T4: its", "")


def test_one_side_on_its_own_is_not_explained_with_ratios_it_has_not():
    """Repeats of one run compared alone give that side's figures, no ratio, no Δ column and no
    verdict: the paragraph under them says what the figures are, not how ratios, shares of Δ and
    verdicts are read (a helper's trial found that footer under a one-side table). Two sides keep it."""
    one = render_comparison(
        compare([make_report("cpu"), dataclasses.replace(make_report("cpu"), created="later")])
    )
    assert "on its own (2 runs)" in one
    assert "Ratios are other/reference" not in one and "share" not in one.split("\n\n")[-1]
    assert "mean steady epoch's 95 % interval is from a hierarchical bootstrap" in " ".join(one.split())
    two = render_comparison(compare([make_report("cpu"), make_report("metal:Apple M1", scale=0.5)]))
    assert "Ratios are other/reference" in two and "mean steady epoch's 95 % interval" not in " ".join(
        two.split()
    )
