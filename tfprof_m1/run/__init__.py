"""Orchestration: benchmark runs, run directories, baseline, sweep, launch, ProfileCallback."""
