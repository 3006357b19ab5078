"""compare: ratios, shares of the difference, verdicts and the significance rule."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, run_cli
from tests.report_factory import make_report
from tfprof_m1.compare import compare, significant
from tfprof_m1.errors import UserError
from tfprof_m1.stats import summarize


def _save(tmp_path, name, report):
    path = tmp_path / f"{name}.json"
    report.save(path)
    return path


def test_gpu_shaped_reports_give_ratios_shares_and_a_verdict(tmp_path):
    """Test data shaped like an M1 run against a Colab T4 run; not measurements."""
    metal = _save(tmp_path, "m1", make_report(label="metal:Apple M1", scale=2.0))
    cuda = _save(tmp_path, "t4", make_report(label="cuda:Tesla T4", scale=1.0))
    (comparison,) = compare([cuda, metal])
    (difference,) = comparison.differences
    reference, other = comparison.figures
    assert reference.label == "cuda:Tesla T4" and other.label == "metal:Apple M1"
    assert difference.epoch_ratio == pytest.approx(other.epoch_mean_ms / reference.epoch_mean_ms)
    assert difference.epoch_ratio > 1.5 and difference.epoch_significant
    shares = {p.phase: p.share_of_difference for p in difference.phases}
    assert sum(shares.values()) == pytest.approx(1.0)  # the phases add up to the epoch, so do their shares
    # compute scales 2x, input and sync do not: backward (60 % of compute) explains most of the gap
    assert max(shares, key=shares.get) == "backward"
    delta = other.epoch_mean_ms - reference.epoch_mean_ms
    expected = (other.phase_mean_ms("backward") - reference.phase_mean_ms("backward")) / delta
    assert shares["backward"] == pytest.approx(expected)
    backward = next(p for p in difference.phases if p.phase == "backward")
    assert backward.ratio == pytest.approx(2.0, rel=0.01) and backward.significant
    assert difference.verdict.startswith("cifar10: metal:Apple M1 is ")
    assert "slower than cuda:Tesla T4" in difference.verdict and "backward" in difference.verdict
    assert difference.config_differences == []


def test_same_figures_are_not_significant(tmp_path):
    first = _save(tmp_path, "a", make_report(label="cpu", scale=1.0))
    second = _save(tmp_path, "b", make_report(label="cuda:Tesla T4", scale=1.0))
    (comparison,) = compare([first, second])
    (difference,) = comparison.differences
    assert not difference.epoch_significant
    assert "do not differ significantly" in difference.verdict


def test_the_significance_rule():
    narrow = summarize([10.0, 10.1, 10.2, 10.3])
    assert significant(narrow, summarize([11.0, 11.1, 11.2, 11.3]))
    assert not significant(summarize([8.0, 10.0, 12.0, 14.0]), summarize([9.0, 11.0, 13.0, 15.0]))


def test_repeats_are_pooled_and_configuration_differences_flagged(tmp_path):
    one = _save(tmp_path, "one", make_report(label="cpu"))
    again = _save(tmp_path, "again", make_report(label="cpu"))
    bigger = _save(tmp_path, "big", make_report(label="cpu", batch_size=64))
    (comparison,) = compare([one, again, bigger])
    assert [f.repeats for f in comparison.figures] == [2, 1]
    assert comparison.figures[1].label == "cpu (big)"
    assert comparison.differences[0].config_differences == ["batch_size: 32 against 64"]
    with pytest.raises(UserError, match="repeats of one run"):
        compare([one, again])


def test_only_models_present_in_all_reports_are_compared(tmp_path):
    both = _save(tmp_path, "both", make_report(label="cpu", models=("mnist", "cifar10")))
    cifar = _save(tmp_path, "cifar", make_report(label="cuda:Tesla T4", models=("cifar10",)))
    assert [c.model for c in compare([both, cifar])] == ["cifar10"]
    mnist = _save(tmp_path, "mnist", make_report(label="metal:Apple M1", models=("mnist",)))
    with pytest.raises(UserError, match="no model in common"):
        compare([cifar, mnist])


@pytest.fixture(scope="module")
def real_reports(tmp_path_factory):
    """Real runs here: batch 32 twice (repeats) and batch 64 with --device cpu."""
    directory = tmp_path_factory.mktemp("real")
    paths = []
    for name, extra in (("b32", []), ("b32again", []), ("b64", ["--batch-size", "64", "--device", "cpu"])):
        path = directory / f"{name}.json"
        result = run_cli("mnist", "--epochs", "2", "--steps", "15", "--data", "synthetic", "--no-fit", "--quiet",
                         "--no-peak", "--json", str(path), *extra)
        assert result.returncode == 0, result.stderr
        paths.append(path)
    return paths


def test_compare_on_real_runs_from_the_command_line(real_reports):
    b32, b32again, b64 = real_reports
    result = run_cli("compare", str(b32), str(b64), str(b32again), "--format", "markdown")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "### mnist: cpu (b32) vs cpu (b64)" in out
    assert "cpu (b32): 2 repeats pooled" in out
    assert "batch_size: 32 against 64" in out
    assert "| custom-loop epoch, steady (s)" in out
    # the epoch ratio printed is the one computed from the JSON
    data = [json.loads(p.read_text()) for p in (b32, b32again, b64)]
    ref = [e["wall_ms"] for d in data[:2] for e in d["runs"][0]["epochs"][1:]]
    other = [e["wall_ms"] for e in data[2]["runs"][0]["epochs"][1:]]
    ratio = (sum(other) / len(other)) / (sum(ref) / len(ref))
    # significant: "1.15× faster"; not significant: the plain ratio, "not significant (0.87×)"
    significant = f"{max(ratio, 1 / ratio):.2f}× {'slower' if ratio >= 1 else 'faster'}"
    assert significant in out or f"not significant ({ratio:.2f}×)" in out


def test_compare_does_not_import_tensorflow(real_reports):
    code = ("import sys; from tfprof_m1.cli import main; rc = main(['compare'] + sys.argv[1:]); "
            "print('TF' if 'tensorflow' in sys.modules else 'noTF', file=sys.stderr); sys.exit(rc)")
    result = subprocess.run([sys.executable, "-c", code, *map(str, real_reports)], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stderr.split()[-1] == "noTF"


def test_compare_errors_are_one_line(tmp_path):
    result = run_cli("compare", str(tmp_path / "nope.json"), str(tmp_path / "nope2.json"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no such report file" in result.stderr
