"""Output for people: tables, comparisons, plots, TensorBoard. Reads reports and analyses, computes no
statistic."""

__all__: list[str] = []
