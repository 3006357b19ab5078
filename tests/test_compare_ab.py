"""compare on A/B runs of one machine: real runs (tests/ab_runs.py) that differ in one setting each
are sides, named by what differs, judged on the unprofiled-equivalent epoch (per example across
batch sizes), never explained by the profiler's own cost; any set of reports gives a comparison,
a one-side summary or one line."""

from __future__ import annotations

import json

import pytest

from tests.ab_runs import unprofiled_epoch
from tests.conftest import flat, run_cli
from tests.report_factory import make_report
from tfprof_m1.analysis.compare import compare
from tfprof_m1.base.errors import UserError
from tfprof_m1.report.model import load_report
from tfprof_m1.views.compare_render import render_comparison

pytestmark = [pytest.mark.slow]


#: What names each variant's sides, and the parity line that says what differs (the width's sides
#: are named by their parameter counts, read from the reports).
EXPECTED = {
    "mixed": (["float32", "mixed_float16"], "mixed-precision policy: float32 against mixed_float16"),
    "xla": (["XLA off", "XLA on"], "XLA in the custom loop: off against on"),
    "batch256": (["batch 32", "batch 256"], "batch size: 32 against 256"),
    "wide": (None, "parameter count: "),
}


@pytest.mark.parametrize("variant", ["mixed", "xla", "batch256", "wide"])
def test_an_ab_on_one_machine_is_two_sides_named_by_what_differs_with_a_verdict_of_the_right_sign(
    ab_reports, variant
):
    baseline, other = ab_reports["baseline"], ab_reports[variant]
    (comparison,) = compare([baseline, other])
    assert [figures.repeats for figures in comparison.figures] == [1, 1]  # never pooled as repeats
    (difference,) = comparison.differences
    labels, line = EXPECTED[variant]
    if labels is None:  # the model's width: named by its parameter count, as the report records it
        labels = [
            f"{json.loads(path.read_text())['runs'][0]['fingerprint']['parameters']:,} parameters"
            for path in (baseline, other)
        ]
    assert [figures.label for figures in comparison.figures] == labels
    assert difference.ab and len(difference.confounds) == 1 and difference.confounds[0].startswith(line)
    text = render_comparison([comparison])
    assert f"what differs ({labels[1]} against the reference): {line}" in text
    assert "not like for like" not in text
    # the verdict: per example across batch sizes, on the unprofiled-equivalent epoch, computed here
    # from each report's JSON; its sign agrees with it whenever the verdict is clear
    per_example = variant == "batch256"
    assert difference.per_example == per_example
    sides = [
        unprofiled_epoch(json.loads(path.read_text())["runs"][0], per_example) for path in (baseline, other)
    ]
    assert difference.judged_ratio.point == pytest.approx(sides[1] / sides[0], rel=1e-6)
    assert difference.judged_ratio.contains(difference.judged_ratio.point)
    if difference.epoch_clear:
        word = "slower" if sides[1] > sides[0] else "faster"
        assert difference.verdict.startswith(f"mlp: {labels[1]} is ") and f" {word}" in difference.verdict
        assert ("per example" in difference.verdict) == per_example
    else:
        assert difference.verdict.startswith(f"mlp: no clear difference between {labels[1]} and {labels[0]}")
    # the profiler's own cost is taken out, never offered as an explanation
    assert not {row.phase for row in difference.phases} & {"profiling", "unprofiled", "trace"}
    if "of the difference" in difference.verdict:
        assert "profiling" not in difference.verdict.split("of the difference")[1]
    shares = [row.share_of_difference for row in difference.phases]
    assert sum(shares) == pytest.approx(1.0)


def test_sixteen_times_the_width_is_slower_and_eight_times_the_batch_faster_per_example(ab_reports):
    """What holds on any CPU: 16× the width is 256× the hidden layer's work; 8× the batch shares each
    step's fixed cost among 8× the examples."""
    (wide,) = compare([ab_reports["baseline"], ab_reports["wide"]])
    (batch,) = compare([ab_reports["baseline"], ab_reports["batch256"]])
    assert wide.differences[0].epoch_clear and wide.differences[0].judged_ratio.low > 1
    assert " slower " in wide.differences[0].verdict
    assert batch.differences[0].epoch_clear and batch.differences[0].judged_ratio.high < 1
    assert "faster per example" in batch.differences[0].verdict


def test_the_mixed_run_says_the_policy_it_trained_under_and_the_model_it_was(ab_reports):
    """The report is built after the global policy was restored to float32, as research code does."""
    mixed, baseline = load_report(ab_reports["mixed"]), load_report(ab_reports["baseline"])
    assert mixed.runs[0].fingerprint.mixed_precision == "mixed_float16"
    assert baseline.runs[0].fingerprint.mixed_precision == "float32"
    assert baseline.runs[0].fingerprint.layers == "3 Dense"
    assert load_report(ab_reports["xla"]).runs[0].fingerprint.loop_jit_compile is True
    assert baseline.runs[0].fingerprint.input_dtype == "float32"
    wide = load_report(ab_reports["wide"]).runs[0].fingerprint.parameters
    assert wide > 100 * baseline.runs[0].fingerprint.parameters


def test_the_epoch_compared_is_the_reports_own_unprofiled_estimate(ab_reports):
    (comparison,) = compare([ab_reports["baseline"], ab_reports["wide"]])
    for figures, path in zip(comparison.figures, (ab_reports["baseline"], ab_reports["wide"])):
        cost = load_report(path).runs[0].steady.profiling_cost
        assert figures.epoch_mean_ms == pytest.approx(cost.unprofiled_epoch_ms)
        assert figures.profiling_ms > 0
        # the workload's phases divide the unprofiled-equivalent epoch
        assert sum(figures.phase_epoch_ms.values()) == pytest.approx(figures.epoch_mean_ms)
    text = render_comparison([comparison])
    assert "profiling cost, taken out (ms/epoch)" in text and "profiling cost taken out" in text


def test_any_set_of_reports_gives_a_comparison_a_summary_or_one_line(ab_reports, tmp_path):
    baseline = str(ab_reports["baseline"])
    alone = run_cli("compare", baseline)
    assert alone.returncode == 0, alone.stderr
    assert "on its own (1 run): mean steady epoch" in alone.stdout and "Traceback" not in alone.stderr
    twice = run_cli("compare", baseline, baseline)
    assert twice.returncode == 0, twice.stderr
    assert f"{baseline} is the same report as {baseline}: counted once" in flat(twice.stdout)
    assert "(1 run)" in twice.stdout
    three = run_cli("compare", baseline, str(ab_reports["mixed"]), baseline, "--format", "markdown")
    assert three.returncode == 0 and "float32: 1 run" in three.stdout and "counted once" in three.stdout
    # different model names on one machine: the models compared, by their names
    renamed = load_report(ab_reports["wide"])
    renamed.runs[0].model = "mlp_w1024"
    renamed_path = renamed.save(tmp_path / "w1024.json")
    models = run_cli("compare", baseline, str(renamed_path), "--label", "w64", "--label", "w1024")
    assert models.returncode == 0, models.stderr
    assert "mlp vs mlp_w1024: w64 vs w1024" in models.stdout and "w1024 is " in models.stdout


def test_different_models_on_different_machines_are_one_line():
    cifar = make_report(label="cuda:Tesla T4", models=("cifar10",), epochs=4)
    mnist = make_report(label="metal:Apple M1", models=("mnist",), epochs=4)
    with pytest.raises(UserError, match=r"no model in common \(cifar10 on .*, mnist on .*\)"):
        compare([cifar, mnist])


def test_a_label_on_a_repeat_is_said_and_its_runs_pooled():
    first, again = make_report("cpu", epochs=4), make_report("cpu", epochs=4, scale=1.02)
    (comparison,) = compare([first, again], labels=["a", "b"])
    assert comparison.figures[0].label == "a" and comparison.figures[0].repeats == 2
    assert any("report 2 (b) ran as a did" in note for note in comparison.notes)


def test_a_share_of_peak_above_100_percent_is_flagged_as_a_noisy_peak():
    fast, slow = make_report("cpu", epochs=4), make_report("metal:Apple M1", epochs=4)
    fast.environment.matmul_peak_gflops = 10.0  # the step runs at ~90 GFLOP/s: far above this peak
    slow.environment.matmul_peak_gflops = 1e6
    text = render_comparison(compare([fast, slow]), markdown=True)  # cells whole, not wrapped
    assert "above the measured peak, a noisy peak measurement" in text
    assert "(0.0 %)" in text
