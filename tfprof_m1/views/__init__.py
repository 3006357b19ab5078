"""Output for people: tables, comparisons, plots, TensorBoard. Reads reports and analyses; no statistics."""

__all__: list[str] = []
