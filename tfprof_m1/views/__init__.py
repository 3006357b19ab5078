"""Output for people: tables, comparisons, plots, TensorBoard. Reads reports, measures nothing."""
