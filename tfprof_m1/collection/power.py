"""Thermal and power state where the OS exposes it: a throttled or battery-powered laptop is a
different machine from the same laptop cool and plugged in.

macOS: ``pmset -g therm`` (``CPU_Speed_Limit``, 100 when not throttled) and ``pmset -g batt``
(AC or battery). Linux: the hottest ``/sys/class/thermal/thermal_zone*/temp`` and whether a mains
supply in ``/sys/class/power_supply`` is online. Elsewhere (or in a VM that exposes none of it):
nothing, and the report says "not exposed". The parsers take the tools' text so tests drive them
with recorded output.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

__all__ = ["linux_state", "parse_pmset_batt", "parse_pmset_therm", "power_state"]


def parse_pmset_therm(text: str) -> int | None:
    """``CPU_Speed_Limit`` in percent from ``pmset -g therm`` (None if absent)."""
    match = re.search(r"CPU_Speed_Limit\s*=\s*(\d+)", text)
    return int(match.group(1)) if match else None


def parse_pmset_batt(text: str) -> str | None:
    """``ac`` or ``battery`` from ``pmset -g batt``'s first line."""
    match = re.search(r"Now drawing from '([^']+)'", text)
    if not match:
        return None
    return "ac" if "AC" in match.group(1) else "battery"


def linux_state(sys_class: Path = Path("/sys/class")) -> tuple[float | None, str | None]:
    """(hottest thermal zone in °C, "ac"/"battery") from sysfs; None where it has no such files."""
    temperatures = []
    for zone in sorted(sys_class.glob("thermal/thermal_zone*/temp")):
        try:
            temperatures.append(int(zone.read_text().strip()) / 1000.0)
        except (OSError, ValueError):
            continue
    supply = None
    for online in sorted(sys_class.glob("power_supply/*/online")):
        try:
            kind = (online.parent / "type").read_text().strip()
            if kind == "Mains":
                supply = "ac" if online.read_text().strip() == "1" else "battery"
        except OSError:
            continue
    return (max(temperatures) if temperatures else None), supply


def _run(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def power_state() -> dict[str, str]:
    """What the OS says, as text fields for the report (empty when it says nothing)."""
    state: dict[str, str] = {}
    if sys.platform == "darwin":
        limit = parse_pmset_therm(_run(["pmset", "-g", "therm"]))
        supply = parse_pmset_batt(_run(["pmset", "-g", "batt"]))
        if limit is not None:
            state["cpu_speed_limit"] = f"{limit} %"
    else:
        temperature, supply = linux_state()
        if temperature is not None:
            state["hottest_thermal_zone"] = f"{temperature:.0f} °C"
    if supply is not None:
        state["power"] = supply
    return state
