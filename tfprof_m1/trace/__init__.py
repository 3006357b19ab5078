"""The tf.profiler trace: the window that records chosen steps, and the XSpace reader."""

__all__: list[str] = []
