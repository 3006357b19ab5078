"""Write a run's figures as TensorBoard scalars and a Markdown text summary.

A renderer: it reads a :class:`~tfprof_m1.report.ModelRun` (or epoch breakdowns from research code)
and measures nothing. The one renderer that imports TensorFlow (for ``tf.summary``). Tags are listed
in docs/tensorboard.md; every scalar is written with an explicit ``step=`` (the epoch, from 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from tfprof_m1.attribution import EpochBreakdown
from tfprof_m1.phases import OTHER
from tfprof_m1.report import ModelRun
from tfprof_m1.stats import summarize

#: Tag names, in one place (docs/tensorboard.md lists them).
PHASE_TAG = "phase/{phase}_ms_per_step"
PHASE_SHARE_TAG = "phase_share/{phase}"
STEP_TIME_TAG = "epoch/step_time_ms"
EPOCH_TIME_TAG = "epoch/wall_time_s"
THROUGHPUT_TAG = "epoch/examples_per_s"
LOSS_TAG = "epoch/loss"
ACCURACY_TAG = "epoch/accuracy"
FIT_EPOCH_TAG = "fit/epoch_time_s"
SUMMARY_TEXT_TAG = "tfprof_m1/summary"


class PhaseScalarWriter:
    """Writes per-epoch phase scalars; the file writer is created on first use and closed by close().

    Usable from research code with the epochs of :func:`~tfprof_m1.attribution.attribute_epochs`.
    """

    def __init__(self, logdir: str | Path) -> None:
        self.logdir = Path(logdir)
        self._writer: Any = None

    @property
    def writer(self) -> Any:
        if self._writer is None:
            import tensorflow as tf

            self._writer = tf.summary.create_file_writer(str(self.logdir))
        return self._writer

    def scalar(self, tag: str, value: float | None, step: int) -> None:
        if value is None:
            return
        import tensorflow as tf

        with self.writer.as_default():
            tf.summary.scalar(tag, float(value), step=step)

    def text(self, tag: str, markdown: str, step: int = 0) -> None:
        import tensorflow as tf

        with self.writer.as_default():
            tf.summary.text(tag, markdown, step=step)

    def write_breakdowns(self, breakdowns: Sequence[EpochBreakdown], losses: Sequence[float | None] = ()) -> None:
        """Per epoch: each phase's median ms per step and share, step time, wall time, throughput."""
        for position, breakdown in enumerate(breakdowns):
            step = breakdown.index + 1
            for phase, values in breakdown.per_step_ms.items():
                spread = summarize(values)
                self.scalar(PHASE_TAG.format(phase=phase), spread.median if spread else None, step)
            for phase, total in breakdown.totals_ms.items():
                self.scalar(PHASE_SHARE_TAG.format(phase=phase), total / breakdown.wall_ms if breakdown.wall_ms else None, step)
            step_totals = summarize([sum(v[i] for v in breakdown.per_step_ms.values()) for i in range(breakdown.steps)])
            self.scalar(STEP_TIME_TAG, step_totals.median if step_totals else None, step)
            self.scalar(EPOCH_TIME_TAG, breakdown.wall_ms / 1000, step)
            seconds = breakdown.wall_ms / 1000
            self.scalar(THROUGHPUT_TAG, breakdown.examples / seconds if seconds else None, step)
            if position < len(losses):
                self.scalar(LOSS_TAG, losses[position], step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()
            self._writer = None


def write_model_run(logdir: str | Path, run: ModelRun, markdown: str) -> None:
    """Scalars of every epoch of ``run`` (custom loop and fit) and ``markdown`` as text."""
    writer = PhaseScalarWriter(logdir)
    try:
        for epoch in run.epochs:
            step = epoch.index + 1
            for phase in epoch.phases:
                writer.scalar(PHASE_SHARE_TAG.format(phase=phase.phase), phase.share, step)
                if phase.phase != OTHER:
                    writer.scalar(PHASE_TAG.format(phase=phase.phase), phase.step_median_ms, step)
            step_totals = summarize([sum(v[i] for v in epoch.step_ms.values()) for i in range(epoch.steps)])
            writer.scalar(STEP_TIME_TAG, step_totals.median if step_totals else None, step)
            writer.scalar(EPOCH_TIME_TAG, epoch.wall_ms / 1000, step)
            writer.scalar(THROUGHPUT_TAG, epoch.examples_per_s, step)
            writer.scalar(LOSS_TAG, epoch.loss, step)
            writer.scalar(ACCURACY_TAG, epoch.accuracy, step)
        if run.fit is not None:
            for index, ms in enumerate(run.fit.epoch_ms):
                writer.scalar(FIT_EPOCH_TAG, ms / 1000, index + 1)
        writer.text(SUMMARY_TEXT_TAG, markdown)
    finally:
        writer.close()
