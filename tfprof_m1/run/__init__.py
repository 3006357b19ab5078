"""Orchestration: benchmark runs, run directories, baseline, sweep, launch, ProfileCallback."""

__all__: list[str] = []
