"""The example notebook runs top to bottom in a real Jupyter kernel, reports render inline, and
TensorBoard starts inline (a real server on loopback, stopped afterwards)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import REPO

pytestmark = [pytest.mark.slow]


def _stop_tensorboards_under(directory) -> int:
    """Stop any TensorBoard server the notebook's %tensorboard left running (best effort: it usually
    ends with its kernel)."""
    import signal

    from tensorboard import manager

    stopped = 0
    for info in manager.get_all():
        if str(directory) in info.logdir or info.logdir.startswith("runs/notebook"):
            try:
                os.kill(info.pid, signal.SIGTERM)
                stopped += 1
            except ProcessLookupError:
                pass
    return stopped


def test_example_notebook_runs_and_renders_reports_inline(tmp_path, monkeypatch):
    notebook = nbformat.read(REPO / "examples" / "notebook.ipynb", as_version=4)
    monkeypatch.setenv("TFPROF_M1_NOTEBOOK_STEPS", "30")
    monkeypatch.setenv("TFPROF_M1_NOTEBOOK_TENSORBOARD", "1")
    # as in an activated virtual environment: %tensorboard runs the `tensorboard` on PATH
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    try:
        client.execute()
    finally:
        _stop_tensorboards_under(tmp_path)
    outputs = [
        output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])
    ]
    assert not [output for output in outputs if output.get("output_type") == "error"]
    markdown = [
        output["data"]["text/markdown"] for output in outputs if "text/markdown" in output.get("data", {})
    ]
    assert len(markdown) == 2  # the article's model and the user's, both as Markdown tables
    assert "### cifar10: custom-loop phases" in markdown[0] and "| input" in markdown[0]
    assert "### gru: training-loop phases" in markdown[1]
    assert any("image/png" in output.get("data", {}) for output in outputs)
    html = [output["data"]["text/html"] for output in outputs if "text/html" in output.get("data", {})]
    assert any("iframe" in text or "tensorboard" in text.lower() for text in html)
    assert (tmp_path / "runs" / "notebook").is_dir()


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__])
