"""Analysis: every figure computed from raw measurements (attribution, estimates, comparison).

See docs/architecture.md; this layer reads records (``report``) and measures nothing.
"""

__all__: list[str] = []
