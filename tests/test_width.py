"""Text output fits 120 columns: tables narrow their headers, then their widest columns (names
shortened in the middle), and text and list items wrap at word boundaries."""

from __future__ import annotations

from tests.report_factory import make_report
from tfprof_m1.views.render import render_text
from tfprof_m1.views.width import WIDTH, elide_middle, fit_table, set_width, wrap_item, wrap_text

OP = "gradient_tape/cifar10_1/conv2d_1_2/convolution/Conv2DBackpropInput:Conv2DBackpropInput"


def test_a_report_with_long_names_and_reasons_fits_the_width_in_text():
    report = make_report(models=("mnist", "cifar10"))
    report.runs[0].data.reason = (
        "CIFAR-10 not found in /root/.keras/datasets and download failed: Exception: URL fetch failure on "
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz: None -- [Errno -2] Name or service not "
        "known; fell back to synthetic data"
    )
    report.runs[0].warnings.append("a warning " * 30)
    text = render_text(report)
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz:" in text  # a long word stays whole
    assert "framework overhead" in text and "fit epoch (steady)" in text


def test_a_table_of_op_names_keeps_both_ends_of_each_name():
    rows = [["backward", OP, "64.9", "10"], ["forward", "cifar10_1/conv2d_1/Relu:_FusedConv2D", "17.9", "10"]]
    table = fit_table(["phase", "top ops", "ms", "calls"], rows, width=80)
    assert max(len(line) for line in table.splitlines()) <= 80
    shortened = next(line for line in table.splitlines() if line.startswith("backward")).split()[1]
    assert "…" in shortened and shortened.startswith("gradient_tape/") and shortened.endswith("BackpropInput")
    assert fit_table(["phase", "top ops"], [r[:2] for r in rows], width=None).count(OP) == 1  # --wide


def test_markdown_headers_break_with_br_and_cells_are_never_split_across_lines():
    headers = ["model", "framework overhead (fit − unprofiled loop)", "first epoch fit / loop"] * 3
    rows = [["cifar10", "+0.03 s (1.33×)", "0.30 s / 0.28 s"] * 3]
    table = fit_table(headers, rows, markdown=True)
    lines = table.splitlines()
    assert len(lines) == 3 and "<br>" in lines[0]  # header, rule, one row: still a valid GitHub table


def test_elision_wrapping_and_list_items():
    assert elide_middle("abcdefghij", 5) == "ab…ij" and elide_middle("abc", 5) == "abc"
    assert len(elide_middle(OP, 40)) == 40
    wrapped = wrap_text("word " * 60, 50)
    assert max(len(line) for line in wrapped.splitlines()) <= 50
    item = wrap_item("memory after each loop epoch: " + "host RSS 985 MiB, " * 10, 60)
    lines = item.splitlines()
    assert lines[0].startswith("- ") and all(line.startswith("  ") for line in lines[1:])
    assert max(len(line) for line in lines) <= 60


def test_wide_keeps_every_line_whole_and_is_undone(tmp_path):
    from tests.conftest import run_cli

    report = make_report()
    report.runs[0].data.reason = "a reason " * 40
    path = tmp_path / "r.json"
    report.save(path)
    narrow, wide = run_cli("show", str(path)), run_cli("show", str(path), "--wide")
    assert narrow.returncode == 0 and wide.returncode == 0, narrow.stderr + wide.stderr
    assert max(len(line) for line in narrow.stdout.splitlines()) <= WIDTH
    assert max(len(line) for line in wide.stdout.splitlines()) > WIDTH
    assert "a reason " * 40 in wide.stdout
    set_width(None)
    try:
        assert max(len(line) for line in render_text(report).splitlines()) > WIDTH
    finally:
        set_width(WIDTH)
    assert max(len(line) for line in render_text(report).splitlines()) <= WIDTH


def test_a_long_title_wraps_within_the_width_and_its_underline_follows_the_longest_line():
    from tfprof_m1.views.width import heading

    title = "mnist vs mine: " + ", ".join(["tf.data from memory, fixed parallelism, 60,000 examples"] * 3)
    text = heading(title, markdown=False, width=120)
    *lines, underline = text.splitlines()
    assert len(lines) > 1 and max(map(len, lines)) <= 120 and " ".join(lines) == title
    assert underline == "-" * max(map(len, lines))
    assert heading(title, markdown=True, width=120) == f"### {title}"  # GitHub wraps a heading itself
    assert heading("short", markdown=False) == "short\n-----"
