"""One directory per run, never overwriting another."""

from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path

__all__ = ["make_run_dir", "run_dir_name"]


def run_dir_name(model: str, device_label: str, started: _dt.datetime) -> str:
    """``<model>-<device label>-<YYYYmmdd-HHMMSS>``, with characters a path dislikes replaced."""
    label = re.sub(r"[^A-Za-z0-9_.-]+", "_", device_label).strip("_") or "device"
    return f"{model}-{label}-{started.strftime('%Y%m%d-%H%M%S')}"


def make_run_dir(logdir: str | Path, name: str) -> Path:
    """Create ``logdir/name``; if it exists, ``name-2``, ``name-3``, … (never reuse a directory)."""
    root = Path(logdir)
    root.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        candidate = root / (name if attempt == 1 else f"{name}-{attempt}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise RuntimeError(f"{root}: could not find a free directory name for {name}")
