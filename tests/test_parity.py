"""The parity guard: what ran on each side, every confounding difference worst first; power state."""

from __future__ import annotations

import dataclasses

from tests.report_factory import make_report
from tfprof_m1.analysis.compare import compare
from tfprof_m1.analysis.parity import checked_values, differences, same_side, side_names
from tfprof_m1.collection.power import linux_state, parse_pmset_batt, parse_pmset_therm
from tfprof_m1.report.model import Fingerprint
from tfprof_m1.views.compare_render import render_comparison


def _side(label, **changes):
    report = make_report(label, epochs=4)
    run = report.runs[0]
    run.fingerprint = Fingerprint(
        input_dtype="uint8",
        input_path="tf.data from memory, fixed parallelism",
        loop_jit_compile=False,
        mixed_precision="float32",
    )
    for key, value in changes.items():
        target = run.fingerprint if hasattr(run.fingerprint, key) else report.environment
        setattr(target, key, value)
    return report


def test_every_confound_is_listed_worst_first_with_the_figure_it_affects():
    colab = _side("cuda:Tesla T4")
    colab.runs[0].fit.jit_compile = True  # Keras turns XLA on for fit when a GPU is present
    mac = _side(
        "metal:Apple M1",
        cpu_fallback_ops=["RandomUniform"],
        input_dtype="float64",
        tensorflow="2.16.2",
        tensorflow_metal="1.2.0",
    )
    mac.runs[0].batch_size = 64
    lines = differences(checked_values(colab, colab.runs[0]), checked_values(mac, mac.runs[0]))
    assert [line.split(":")[0] for line in lines] == [
        "ops that ran on the CPU during a GPU run",
        "XLA in fit (jit_compile)",
        "batch size",
        "input dtype",
        "TensorFlow version",
    ]
    assert lines[0] == (
        "ops that ran on the CPU during a GPU run: none against RandomUniform; affects every custom-loop "
        "phase (those ops ran on the host)"
    )
    assert lines[1].startswith(
        "XLA in fit (jit_compile): on against off; affects the fit epoch: the headline"
    )
    # tensorflow-metal is on one side only: unknown on the other, so not a difference by itself
    assert not any(line.startswith("tensorflow-metal") for line in lines)
    (comparison,) = compare([colab, mac])
    text = render_comparison([comparison])
    assert text.index("XLA in fit") < text.index("batch size: 32 against 64")
    assert "⚠ not like for like (metal:Apple M1 against the reference): ops that ran on the CPU" in text


def test_like_for_like_runs_have_no_confound_and_unknowns_are_not_differences():
    first, second = _side("cpu"), _side("cuda:Tesla T4")
    assert differences(checked_values(first, first.runs[0]), checked_values(second, second.runs[0])) == []
    older = make_report("cpu", epochs=4)  # no fingerprint, as a schema 3 report
    assert differences(checked_values(first, first.runs[0]), checked_values(older, older.runs[0])) == []


def test_power_state_from_recorded_pmset_output_and_a_sysfs_tree(tmp_path):
    therm = (
        "Note: No thermal warning level has been recorded\n  CPU_Scheduler_Limit "
        "\t= 100\n  CPU_Available_CPUs \t= 8\n  CPU_Speed_Limit \t= 72\n"
    )
    assert parse_pmset_therm(therm) == 72
    assert (
        parse_pmset_batt("Now drawing from 'Battery Power'\n -InternalBattery-0 (id=1234)\t85%; discharging")
        == "battery"
    )
    assert parse_pmset_batt("Now drawing from 'AC Power'\n") == "ac"
    assert parse_pmset_therm("") is None and parse_pmset_batt("") is None
    zone = tmp_path / "thermal" / "thermal_zone0"
    zone.mkdir(parents=True)
    (zone / "temp").write_text("61500\n")
    (tmp_path / "thermal" / "thermal_zone1").mkdir()
    (tmp_path / "thermal" / "thermal_zone1" / "temp").write_text("48000\n")
    supply = tmp_path / "power_supply" / "AC"
    supply.mkdir(parents=True)
    (supply / "type").write_text("Mains\n")
    (supply / "online").write_text("0\n")
    assert linux_state(tmp_path) == (61.5, "battery")
    assert linux_state(tmp_path / "nothing") == (None, None)


def test_runs_that_differ_in_fits_xla_or_the_executor_are_not_pooled_as_repeats():
    plain, forced, rehearsed = (
        make_report("cpu", epochs=4),
        make_report("cpu", epochs=4),
        make_report("cpu", epochs=4),
    )
    forced.config = dataclasses.replace(forced.config, fit_jit_compile="on")
    forced.runs[0].fit.jit_compile = True  # what fit ran with, as the report records it
    rehearsed.config = dataclasses.replace(rehearsed.config, async_executor=True)
    rehearsed.environment.executor_async = True
    (comparison,) = compare([plain, forced, rehearsed])
    assert [f.repeats for f in comparison.figures] == [1, 1, 1]
    assert any(
        line.startswith("eager executor: synchronous against asynchronous")
        for line in comparison.differences[1].confounds
    )


def test_one_list_decides_repeats_names_sides_and_lists_differences():
    """What the machine was seen doing never splits repeats; what a report does not know never
    splits them either; a setting or the model does, and names the sides."""
    report = _side("cpu")
    base = {
        **checked_values(report, report.runs[0]),
        "power": "power ac",
        "parameters": 9_000,
        "layers": "3 Dense",
    }
    hot = {**base, "power": "power battery"}
    unknown = {**base, "mixed_precision": None}
    mixed = {**base, "mixed_precision": "mixed_float16"}
    wider = {**base, "parameters": 1_000_000, "layers": "3 Dense"}
    assert same_side(base, hot) and same_side(base, unknown)
    assert differences(base, hot)[0].startswith("power and thermal state")  # still said
    assert not same_side(base, mixed) and not same_side(base, wider)
    assert side_names([base, mixed]) == ["float32", "mixed_float16"]
    assert side_names([base, wider]) == ["9,000 parameters", "1,000,000 parameters"]
    metal = {**mixed, "device": "metal:Apple M1"}  # between machines the machine names the sides
    assert side_names([base, metal]) == ["cpu", "metal:Apple M1"]
    assert [line.split(":")[0] for line in differences(base, metal)] == ["mixed-precision policy"]
    # steps per epoch follow from the batch size when the examples agree
    bigger = {**base, "batch_size": 64, "steps_per_epoch": 5}
    assert [line.split(":")[0] for line in differences(base, bigger)] == ["batch size"]


def test_a_batch_size_ab_of_fixed_steps_differs_in_the_batch_size_alone():
    """A fit report (ProfileCallback) knows no dataset size: its examples are counted per epoch, so a
    batch-size A/B of 60 steps an epoch read "training examples: 1,920 against 3,840" as a second,
    not-like-for-like difference (a trial). Examples follow from the batch size when the steps per
    epoch agree, as steps follow from it when the examples agree; both differing is still listed."""
    from tfprof_m1.analysis.parity import differing_checks

    def fit_side(batch: int, steps: int) -> dict[str, object]:
        report = make_report("cpu", batch_size=batch)
        run = report.runs[0]
        run.data = None
        run.steps_per_epoch = steps
        run.epochs = [dataclasses.replace(e, examples=steps * batch) for e in run.epochs]
        return checked_values(report, run)

    assert [c.key for c in differing_checks(fit_side(32, 60), fit_side(64, 60))] == ["batch_size"]
    (line,) = differences(fit_side(32, 60), fit_side(64, 60))
    assert line.startswith("batch size: 32 against 64")
    keys = [c.key for c in differing_checks(fit_side(32, 60), fit_side(64, 40))]
    assert "steps_per_epoch" in keys and "examples" in keys


def test_a_side_named_by_a_count_of_one_reads_singular():
    """A trial read "1 steps per execution" in a side's name."""
    from tfprof_m1.analysis.parity import CHECKS, _name

    checks = {check.key: check for check in CHECKS}
    assert _name(checks["steps_per_execution"], 1) == "1 step per execution"
    assert _name(checks["steps_per_execution"], 4) == "4 steps per execution"
    assert _name(checks["examples"], 1920) == "1,920 examples"


def test_a_fit_reports_input_path_is_not_known_so_not_a_difference():
    """A ProfileCallback report records fit's own input path, with no word of the data it was given:
    a trial's loop-against-fit compare read "input pipeline: tf.data.Dataset against Keras fit"."""
    from tfprof_m1.analysis.parity import FIT_INPUT_PATH

    loop, fit = make_report("cpu"), make_report("cpu")
    loop.runs[0].fingerprint = Fingerprint(input_path="tf.data.Dataset, steps_per_epoch 10")
    fit.runs[0].fingerprint = Fingerprint(input_path=FIT_INPUT_PATH)
    assert checked_values(fit, fit.runs[0])["input_path"] is None
    lines = differences(checked_values(loop, loop.runs[0]), checked_values(fit, fit.runs[0]))
    assert not any(line.startswith("input pipeline") for line in lines)
