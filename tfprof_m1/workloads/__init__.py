"""What is trained: the article's models, their datasets, the input pipeline."""

__all__: list[str] = []
