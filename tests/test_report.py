"""Report JSON: round trip, atomic writes, tolerant and strict loading."""

from __future__ import annotations

import json
import os

import pytest

from tests.report_factory import make_report
from tfprof_m1.base.errors import UserError
from tfprof_m1.base.files import write_atomic
from tfprof_m1.report.model import SCHEMA_VERSION, Report, load_report


def test_round_trip_is_lossless(tmp_path):
    report = make_report()
    path = report.save(tmp_path / "r.json")
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    loaded = load_report(path)
    assert loaded == report
    assert loaded.runs[0].epochs[1].phases[0].phase == "input"
    assert json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION


def test_atomic_write_leaves_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("old")

    with pytest.raises(TypeError):
        write_atomic(path, 12345)  # not text: the write fails half way
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary left behind


def test_unknown_fields_are_ignored_so_newer_minor_additions_load(tmp_path):
    data = make_report().to_dict()
    data["future_field"] = {"x": 1}
    data["runs"][0]["headline"]["another"] = 3
    assert Report.from_dict(data) == make_report()


def _broken(change) -> str:
    data = make_report().to_dict()
    change(data)
    return json.dumps(data)


@pytest.mark.parametrize(
    "content, expected",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a tfprof_m1 report"),
        ('{"hello": 1}', "no schema_version"),
        (json.dumps({"schema_version": SCHEMA_VERSION + 1}), "upgrade tfprof-m1"),
        (json.dumps({"schema_version": 2, "config": {}}), "lacks"),
        (json.dumps({"schema_version": 1, "config": {}}), "record the run again"),
        (json.dumps({"schema_version": 0}), "schema_version 0 is not one tfprof_m1 ever wrote"),
        (_broken(lambda d: d.update(tool="pyperf")), "tool is 'pyperf': written by another program"),
        (_broken(lambda d: d.update(runs=[])), "runs is empty"),
        (_broken(lambda d: d["runs"][0].update(epochs=[])), "epochs is empty"),
        (
            _broken(lambda d: d["runs"][0]["steady"].update(epochs=[])),
            "steady.epochs [] does not name epochs",
        ),
        (
            _broken(lambda d: d["runs"][0]["epochs"][1].update(wall_ms=0)),
            "wall_ms is 0.0, not a positive time",
        ),
        (_broken(lambda d: d["runs"][0]["epochs"][1]["step_ms"]["input"].pop()), "step_ms[input] has"),
        (
            _broken(lambda d: d["runs"][0]["epochs"][1].update(wall_ms=float("nan"))),
            "NaN is not a number a report holds",
        ),
        ("[" * 200_000 + "]" * 200_000, "nested too deeply"),
    ],
)
def test_bad_files_are_one_line_user_errors(tmp_path, content, expected):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(UserError) as error:
        load_report(path)
    assert expected in str(error.value) and str(path) in str(error.value) and "\n" not in str(error.value)


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no such report"):
        load_report(tmp_path / "absent.json")


def test_a_huge_file_is_refused_without_reading_it(tmp_path, monkeypatch):
    import tfprof_m1.report.model as report_module

    path = tmp_path / "huge.json"
    with open(path, "wb") as stream:  # sparse: large on paper, no disk used
        stream.truncate(report_module.MAX_REPORT_BYTES + 1)
    monkeypatch.setattr(type(path), "read_text", lambda *a, **k: pytest.fail("the file was read"))
    with pytest.raises(UserError, match="larger than any report"):
        load_report(path)


def test_a_time_that_rounds_to_zero_reads_0_and_a_negative_part_is_explained():
    """A trial saw device waits of "-0.000" and a part of "-0.252" ms with no word on either."""
    import dataclasses

    from tests.report_factory import probed_report
    from tfprof_m1.views.render import ms_text, render_text

    assert [ms_text(v) for v in (-0.0004, -0.0, 0.0004, -0.0006, -12.34)] == [
        "0.000",
        "0.000",
        "0.000",
        "-0.001",
        "-12.3",
    ]
    report = probed_report()
    steady = report.runs[0].steady
    assert "below zero" not in render_text(report)
    steady.parts[-1] = dataclasses.replace(steady.parts[-1], ms=-0.252)
    text = " ".join(render_text(report).split())
    assert f"A part below zero ({steady.parts[-1].part} -0.252 ms)" in text and "read it as about 0" in text


def test_a_binary_file_given_as_a_report_is_named_for_what_it_is(tmp_path):
    """A trial gave `show` a TensorBoard event file and read "cannot be read (UnicodeDecodeError: ...)".
    The event file is written by TensorBoard's own writer; a gzip archive by the standard library."""
    import gzip

    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(tmp_path))
    writer.close()
    (events,) = tmp_path.glob("events.out.tfevents.*")
    archive = tmp_path / "runs.gz"
    archive.write_bytes(gzip.compress(b"\xff\xfe" * 100))
    for path, words in ((events, "a TensorBoard event file"), (archive, "a compressed archive")):
        with pytest.raises(UserError) as error:
            load_report(path)
        message = str(error.value)
        assert message.startswith(f"{path}: not a tfprof_m1 report ({words}") and "\n" not in message
