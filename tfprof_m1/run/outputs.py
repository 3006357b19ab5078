"""Where a benchmark's results are written, model by model, so that nothing measured is lost.

As soon as a model is done (or cut short), its run directory gets ``report.json`` and then its
TensorBoard scalars and text, and ``--json`` is rewritten with every model so far. Each write is
atomic and independent: one that fails (full disk, read-only directory, a path TensorBoard cannot
encode) is reported in one line naming the path and what to do, and the others still happen.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tfprof_m1.base.progress import Progress
from tfprof_m1.report.model import Report
from tfprof_m1.trace.window import StepRange

__all__ = ["OutputSettings", "RunOutputs"]


@dataclass(frozen=True)
class OutputSettings:
    """Where a run's outputs go; what was measured is the :class:`RunConfig`."""

    #: Where run directories go (TensorBoard logdir); None writes no run directory and no trace.
    logdir: str | None = "runs"
    trace: bool = True
    #: Global steps to trace; None: the default window (up to 10 steps in the second epoch).
    trace_steps: StepRange | None = None


@dataclass
class RunOutputs:
    """Writes each model's results when it is done; remembers what was written and what failed."""

    #: The ``--json`` path (the whole report so far), or None.
    json_path: Path | None = None
    say: Progress = lambda line: None
    #: Paths written, in order (each at most once).
    written: list[str] = field(default_factory=list)
    #: One line per write that failed.
    failures: list[str] = field(default_factory=list)
    _saved_runs: int = 0

    def save(self, report: Report) -> None:
        """Write what is new in ``report`` since the last call: the run directories of its new runs,
        then the ``--json`` file with every run so far."""
        for run in report.runs[self._saved_runs :]:
            if run.run_dir is not None:
                self._save_run_dir(report, run.run_dir, dataclasses.replace(report, runs=[run]))
        self._saved_runs = len(report.runs)
        json_path = self.json_path
        if json_path is not None:
            self._attempt(json_path, lambda: report.save(json_path), "choose another --json path")

    def _save_run_dir(self, report: Report, run_dir: str, single: Report) -> None:
        from tfprof_m1.views.render import render_text
        from tfprof_m1.views.tensorboard_writer import write_model_run

        report_path = Path(run_dir) / "report.json"
        if self._attempt(
            report_path, lambda: single.save(report_path), "free space there or choose another --logdir"
        ):
            # The scalars and text come second: they are a view of what report.json already holds.
            self._attempt(
                Path(run_dir),
                lambda: write_model_run(run_dir, single.runs[0], render_text(single, markdown=True)),
                "the run's report.json is complete; `show` renders it",
                what="TensorBoard summaries",
            )

    def fail(self, path: Path, error: Exception, advice: str, what: str | None = None) -> None:
        """Record and say, in one line, that writing ``path`` failed."""
        reason = getattr(error, "strerror", None) or (str(error).splitlines() or [type(error).__name__])[0]
        line = f"could not write {what + ' in ' if what else ''}{path}: {reason}; {advice}"
        self.failures.append(line)
        self.say(f"tfprof_m1: error: {line}")

    def _attempt(self, path: Path, write: Callable[[], object], advice: str, what: str | None = None) -> bool:
        try:
            write()
        except (OSError, ValueError, UnicodeError) as error:
            self.fail(path, error, advice, what)
            return False
        label = str(path) if what is None else f"{path} ({what})"
        if label not in self.written:
            self.written.append(label)
        return True

    def summary(self) -> str:
        """What was written, for the last line of an interrupted or failed run."""
        return ", ".join(self.written) if self.written else "nothing"
