"""``ProfileCallback``: a profiled Keras ``fit`` that builds its own report and writes it.

The measuring is :class:`~tfprof_m1.collection.fit.FitProfiler`'s (collection never renders or
writes); this layer adds the report, ``report.json`` and the TensorBoard scalars and text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tfprof_m1.analysis.assemble import build_report
from tfprof_m1.analysis.parity import FIT_INPUT_PATH
from tfprof_m1.collection.fit import FitProfiler
from tfprof_m1.collection.model_facts import layer_summary, parameter_count
from tfprof_m1.report.model import Fingerprint, Report
from tfprof_m1.views.render import render_text
from tfprof_m1.views.tensorboard_writer import write_model_run

__all__ = ["ProfileCallback"]


class ProfileCallback(FitProfiler):
    """Profile a Keras ``fit``: every batch timed and fenced, epochs, an optional tf.profiler trace,
    TensorBoard scalars and text, and a Report (:meth:`report`) that ``show``, ``compare`` and
    ``plot`` accept. With a ``logdir``, ``report.json`` and the scalars are written when ``fit``
    ends; after a Ctrl-C, ``report()`` and ``write()`` still give the finished epochs.

    Example::

        callback = ProfileCallback("runs/mine-fit", trace_steps=StepRange(60, 70), batch_size=64)
        model.fit(dataset, epochs=3, callbacks=[callback])
        print(render_text(callback.report(model="mine")))

    Args: as :class:`~tfprof_m1.collection.fit.FitProfiler` (``logdir`` also receives ``report.json``
    and the TensorBoard scalars and text; None writes nothing).
    """

    def on_train_end(self, logs: dict | None = None) -> None:
        """Close what the hooks opened, then write the report and scalars when there is a ``logdir``."""
        self.close()
        if self.logdir is not None and self.profiler.epochs:
            self.write(self.logdir)

    def report(self, model: str | None = None, **options: Any) -> Report:
        """The fit run as a Report (source ``fit``): per-batch times, epochs, trace attribution.

        Args:
            model: the model's name in tables and comparisons (default: ``model_name``).
            **options: passed to :func:`~tfprof_m1.analysis.assemble.build_report`.
        """
        options.setdefault("fingerprint", self.fingerprint())
        report = build_report(
            self.profiler,
            model=model or self.model_name,
            source="fit",
            fit=self,
            trace=self.window,
            batch_size=self.batch_size,
            losses=self.losses,
            accuracies=self.accuracies,
            **options,
        )
        report.runs[0].warnings += [note for note in self.notes if note not in report.runs[0].warnings]
        return report

    def fingerprint(self) -> Fingerprint:
        """What this fit trained with: the model's own dtype policy, XLA, steps per execution, the
        dtype of the model's first input, its parameter count and layers (None where Keras does not
        say)."""
        model = getattr(self, "model", None)
        inputs = getattr(model, "inputs", None) or []
        dtype = getattr(inputs[0], "dtype", None) if inputs else None
        return Fingerprint(
            mixed_precision=getattr(getattr(model, "dtype_policy", None), "name", None),
            steps_per_execution=self.steps_per_execution,
            input_dtype=getattr(dtype, "name", dtype) if dtype is not None else None,
            input_path=FIT_INPUT_PATH,
            parameters=parameter_count(model),
            layers=layer_summary(model),
        )

    def write(self, logdir: str) -> Report:
        """Write ``report.json`` and the TensorBoard scalars and text into ``logdir``; returns the report."""
        report = self.report(run_dir=str(logdir))
        report.save(Path(logdir) / "report.json")
        write_model_run(logdir, report.runs[0], render_text(report, markdown=True))
        return report
