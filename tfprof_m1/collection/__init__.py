"""Measuring: profiler, fences, steps, loop, fit hooks, attribution and estimates. Imports no view."""

__all__: list[str] = []
