"""plot writes a real image from saved reports."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import matplotlib.image
import pytest

from tests.conftest import run_cli
from tests.report_factory import make_report

pytestmark = [pytest.mark.slow]


@pytest.fixture
def reports(tmp_path):
    paths = []
    for name, label, scale, fit in (
        ("t4", "cuda:Tesla T4", 1.0, True),
        ("m1", "metal:Apple M1", 2.0, True),
        ("cpu", "cpu", 4.0, False),
    ):
        path = tmp_path / f"{name}.json"
        make_report(label=label, models=("mnist", "cifar10"), scale=scale, fit=fit).save(path)
        paths.append(str(path))
    return paths


def test_png_is_written_and_readable(tmp_path, reports):
    out = tmp_path / "figs" / "article.png"
    result = run_cli("plot", *reports, "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width, _ = matplotlib.image.imread(out).shape
    assert width > 1000 and height > 400
    assert [p.name for p in out.parent.iterdir()] == ["article.png"]  # no temporary left
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # an ordinary file, not mkstemp's 0600


def test_svg_names_every_device_and_phase(tmp_path, reports):
    out = tmp_path / "article.svg"
    assert run_cli("plot", *reports, "-o", str(out)).returncode == 0
    text = out.read_text()
    ET.fromstring(text)  # well-formed XML
    for word in ("cuda:Tesla T4", "metal:Apple M1", "backward", "sync", "no fit run", "95 % CI"):
        assert word in text


def test_bad_output_name_is_a_user_error(tmp_path, reports):
    result = run_cli("plot", *reports, "-o", str(tmp_path / "chart.jpg"))
    assert result.returncode == 2 and "must end in .png or .svg" in result.stderr
    (tmp_path / "dir.png").mkdir()
    (tmp_path / "a_file").write_text("x")
    for output, expected in (
        (tmp_path / "dir.png", "is a directory"),
        (tmp_path / "a_file" / "c.png", "which is a file"),
    ):
        result = run_cli("plot", *reports, "-o", str(output))
        assert result.returncode == 2 and expected in result.stderr and "Traceback" not in result.stderr


def _run_python(code: str, *args: str):
    import subprocess
    import sys

    from tests.conftest import REPO

    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=REPO)


def test_plot_does_not_import_tensorflow(tmp_path, reports):
    code = (
        "import sys; from tfprof_m1.cli import main; rc = main(['plot'] + sys.argv[1:]); "
        "print('TF' if 'tensorflow' in sys.modules else 'noTF', file=sys.stderr); sys.exit(rc)"
    )
    result = _run_python(code, *reports, "-o", str(tmp_path / "x.png"))
    assert result.returncode == 0, result.stderr
    assert result.stderr.split()[-1] == "noTF"


def test_missing_matplotlib_is_a_clear_message(tmp_path, reports):
    code = (
        "import sys; sys.modules['matplotlib'] = None; from tfprof_m1.cli import main; "
        "sys.exit(main(['plot'] + sys.argv[1:]))"
    )
    result = _run_python(code, *reports, "-o", str(tmp_path / "x.png"))
    assert result.returncode == 2
    assert "plot needs matplotlib: pip install 'tfprof-m1[plot]'" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "x.png").exists()


def test_an_ab_plot_shows_the_workload_with_the_profiling_cost_apart_and_says_what_differs(
    tmp_path, ab_reports
):
    out = tmp_path / "ab.svg"
    result = run_cli("plot", str(ab_reports["baseline"]), str(ab_reports["mixed"]), "-o", str(out))
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    ET.fromstring(text)
    for word in (
        "float32",
        "mixed_float16",
        "Custom loop: mean steady epoch, profiling cost taken out (s), 95 % CI",  # no fit: one measure
        "Where the custom-loop epoch goes (unprofiled-equivalent, s)",
        "profiling cost, taken out",
        "mixed-precision policy: float32 against mixed_float16",  # the parity line under the chart
    ):
        assert word in text, word
    assert "hatched" not in text and "as the article" not in text
