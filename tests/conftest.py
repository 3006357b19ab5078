"""Shared fixtures. Nothing here downloads: every dataset is written by the test, in its published format."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _no_downloads_no_cache(tmp_path_factory, monkeypatch):
    """Tests never download and never read the user's Keras cache."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path_factory.mktemp("keras_home")))
    monkeypatch.setenv("TFPROF_M1_NO_DOWNLOAD", "1")


def run_cli(
    *args: str, env: dict | None = None, timeout: float = 300, cwd: str | Path | None = None
) -> subprocess.CompletedProcess:
    """``python -m tfprof_m1 ARGS`` as a subprocess, as a user runs it.

    It runs in a fresh temporary directory unless told otherwise, so the default ``runs/`` run
    directories never land in the repository.
    """
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "tfprof_m1", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or tempfile.mkdtemp(prefix="tfprof_m1-cli-"),
        timeout=timeout,
    )
