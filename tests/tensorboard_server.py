"""A real TensorBoard server on a free loopback port, for tests and the XProf check."""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class TensorBoard:
    """``tensorboard --logdir LOGDIR`` on 127.0.0.1; a context manager that always stops it."""

    def __init__(self, logdir: str | Path, startup_seconds: float = 90) -> None:
        self.logdir = Path(logdir)
        self.port = free_port()
        self.startup_seconds = startup_seconds
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> TensorBoard:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tensorboard.main",
                "--logdir",
                str(self.logdir),
                "--port",
                str(self.port),
                "--host",
                "127.0.0.1",
                "--reload_interval",
                "1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.wait_for(lambda: self.get("/data/plugins_listing"), "the server to answer")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def get(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.port}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request, timeout=60) as response:
            body = response.read()
            if response.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
        return json.loads(body)

    def wait_for(self, probe: Callable[[], Any], what: str) -> Any:
        """Call ``probe`` until it returns something truthy without raising (bounded in time)."""
        deadline = time.monotonic() + self.startup_seconds
        last_error: BaseException | None = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"tensorboard exited: {self.process.stderr.read() if self.process.stderr else ''}"
                )
            try:
                value = probe()
                if value:
                    return value
            except (urllib.error.URLError, ConnectionError, json.JSONDecodeError, OSError) as error:
                last_error = error
            time.sleep(0.5)
        raise TimeoutError(f"waited {self.startup_seconds} s for {what}; last error: {last_error}")

    def overview_page(self, run: str) -> dict[str, str]:
        """The XProf overview page's step-time summary properties for a profile run."""
        hosts = self.get("/data/plugin/profile/hosts", run=run, tag="overview_page")
        host = hosts[0]["hostname"] if hosts and isinstance(hosts[0], dict) else ""
        tables = self.get("/data/plugin/profile/data", run=run, tag="overview_page", host=host)
        for table in tables:
            properties = table.get("p", {}) if isinstance(table, dict) else {}
            if "steptime_ms_average" in properties:
                return properties
        raise AssertionError(f"no step-time summary in the overview page of {run}")
