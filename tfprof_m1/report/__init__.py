"""The report: its records and their versioned JSON (load, upgrade, validate). Computes nothing."""

__all__: list[str] = []
