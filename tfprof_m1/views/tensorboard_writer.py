"""Write a run's figures as TensorBoard scalars and a Markdown text summary.

A renderer: it reads a :class:`~tfprof_m1.report.model.ModelRun` (or epoch breakdowns from research code)
and measures nothing. The one renderer that imports TensorFlow (for ``tf.summary``). Tags are listed
in docs/tensorboard.md; every scalar is written with an explicit ``step=`` (the epoch, from 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tfprof_m1.analysis.attribution import EpochBreakdown, step_totals
from tfprof_m1.analysis.figures import epoch_report
from tfprof_m1.base.phases import EPOCH_LEVEL_PHASES, OTHER
from tfprof_m1.base.stats import summarize
from tfprof_m1.base.tf_types import SummaryWriter
from tfprof_m1.report.model import EpochReport, ModelRun

__all__ = ["PHASE_TAG", "STEP_TIME_TAG", "SUMMARY_TEXT_TAG", "PhaseScalarWriter", "write_model_run"]

#: Tag names, in one place (docs/tensorboard.md lists them).
PHASE_TAG = "phase/{phase}_ms_per_step"
#: Phases not on every step (profiling, unprofiled, trace, fit's epoch start and validation, other).
PHASE_EPOCH_TAG = "phase/{phase}_ms_per_epoch"
#: The phase's share of the epoch's wall time, in % (as the terminal prints it).
PHASE_SHARE_TAG = "phase_share/{phase}"
STEP_TIME_TAG = "epoch/step_time_ms"
EPOCH_TIME_TAG = "epoch/wall_time_s"
THROUGHPUT_TAG = "epoch/examples_per_s"
LOSS_TAG = "epoch/loss"
ACCURACY_TAG = "epoch/accuracy"
FIT_EPOCH_TAG = "fit/epoch_time_s"
SUMMARY_TEXT_TAG = "tfprof_m1/summary"
#: The custom-scalars layout: one chart holding every phase (ms per step, ms per epoch, % of the
#: epoch), so the phases are seen together rather than one chart each.
LAYOUT_CHARTS: tuple[tuple[str, str], ...] = (
    ("every phase, ms per step (median)", r"^phase/.*_ms_per_step$"),
    ("epoch-level phases, ms per epoch", r"^phase/.*_ms_per_epoch$"),
    ("every phase, % of the epoch", r"^phase_share/"),
    ("step time (ms)", r"^epoch/step_time_ms$"),
    ("fit epoch time (s)", r"^fit/epoch_time_s$"),  # its own chart: seconds beside ms read as one axis
)
LAYOUT_CATEGORY = "tfprof_m1: where the epoch goes"


class PhaseScalarWriter:
    """Writes per-epoch phase scalars; the file writer is created on first use and closed by close().

    Usable from research code with the epochs of :func:`~tfprof_m1.analysis.attribution.attribute_epochs`.
    """

    def __init__(self, logdir: str | Path) -> None:
        self.logdir = Path(logdir)
        self._writer: SummaryWriter | None = None

    @property
    def writer(self) -> SummaryWriter:
        """The tf.summary file writer, created on first use (so a writer never used makes no file)."""
        if self._writer is None:
            import tensorflow as tf

            self._writer = tf.summary.create_file_writer(str(self.logdir))
        return self._writer

    def scalar(self, tag: str, value: float | None, step: int) -> None:
        """One scalar at ``step``; None writes nothing (a figure that does not exist is not a zero)."""
        if value is None:
            return
        import tensorflow as tf

        with self.writer.as_default():
            tf.summary.scalar(tag, float(value), step=step)

    def text(self, tag: str, markdown: str, step: int = 0) -> None:
        """``markdown`` as a text summary; bytes a path held that are not UTF-8 (Python keeps them as
        surrogate escapes, which TensorFlow refuses) are shown as the replacement character."""
        import tensorflow as tf

        printable = markdown.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        with self.writer.as_default():
            tf.summary.text(tag, printable, step=step)

    def write_epoch(self, epoch: EpochReport) -> None:
        """One epoch's figures, exactly as the report holds them, at step ``index + 1``: each phase's
        median ms per step (epoch-level phases, which are not on every step, as ms per epoch
        instead), each phase's share of the epoch, step time, wall time, throughput, loss, accuracy.

        A phase met only outside steps has no per-step scalar; the estimated parts of a fused step's
        compute always have one, even at 0 ms (an estimate at or below zero is noise around a tiny
        part), so a chart's line never disappears for an epoch.
        """
        step = epoch.index + 1
        parts = set(epoch.proportions or ())
        for phase in epoch.phases:
            if phase.phase in EPOCH_LEVEL_PHASES:
                if phase.phase != OTHER or phase.total_ms:
                    self.scalar(PHASE_EPOCH_TAG.format(phase=phase.phase), phase.total_ms, step)
            else:
                median = phase.step_median_ms
                if median is None and phase.phase in parts:
                    median = 0.0
                self.scalar(PHASE_TAG.format(phase=phase.phase), median, step)
            self.scalar(PHASE_SHARE_TAG.format(phase=phase.phase), phase.share * 100.0, step)
        per_step = summarize(step_totals(epoch.step_ms))
        self.scalar(STEP_TIME_TAG, per_step.median if per_step else None, step)
        self.scalar(EPOCH_TIME_TAG, epoch.wall_ms / 1000, step)
        self.scalar(THROUGHPUT_TAG, epoch.examples_per_s or None, step)
        self.scalar(LOSS_TAG, epoch.loss, step)
        self.scalar(ACCURACY_TAG, epoch.accuracy, step)

    def write_breakdowns(
        self, breakdowns: Sequence[EpochBreakdown], losses: Sequence[float | None] = ()
    ) -> None:
        """Every epoch of :func:`~tfprof_m1.analysis.attribution.attribute_epochs`, with its loss
        if given, as the report would hold it (:func:`~tfprof_m1.analysis.figures.epoch_report`),
        and the custom-scalars layout."""
        self.write_layout()
        for position, breakdown in enumerate(breakdowns):
            loss = losses[position] if position < len(losses) else None
            self.write_epoch(epoch_report(breakdown, loss, None, warmup=breakdown.is_warmup))

    def write_layout(self) -> None:
        """The custom-scalars layout (TensorBoard's ``custom_scalars`` plugin): the charts of
        :data:`LAYOUT_CHARTS`, each a multiline chart of every tag its regex matches."""
        import tensorflow as tf
        from tensorboard.plugins.custom_scalar import layout_pb2
        from tensorboard.plugins.custom_scalar import summary as custom_scalar

        layout = layout_pb2.Layout(
            category=[
                layout_pb2.Category(
                    title=LAYOUT_CATEGORY,
                    chart=[
                        layout_pb2.Chart(title=title, multiline=layout_pb2.MultilineChartContent(tag=[regex]))
                        for title, regex in LAYOUT_CHARTS
                    ],
                )
            ]
        )
        with self.writer.as_default():
            tf.summary.experimental.write_raw_pb(custom_scalar.pb(layout).SerializeToString(), step=0)

    def close(self) -> None:
        """Flush and close the file writer, if one was opened."""
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()
            self._writer = None


def write_model_run(logdir: str | Path, run: ModelRun, markdown: str) -> None:
    """Scalars of every epoch of ``run`` (custom loop and fit) and ``markdown`` as text."""
    writer = PhaseScalarWriter(logdir)
    try:
        writer.write_layout()
        for epoch in run.epochs:
            writer.write_epoch(epoch)
        if run.fit is not None:
            for index, ms in enumerate(run.fit.epoch_ms):
                writer.scalar(FIT_EPOCH_TAG, ms / 1000, index + 1)
        writer.text(SUMMARY_TEXT_TAG, markdown)
    finally:
        writer.close()
