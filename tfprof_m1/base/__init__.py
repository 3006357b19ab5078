"""Shared by every layer: errors, phase names, statistics, atomic file writing (docs/architecture.md)."""

__all__: list[str] = []
