"""The headline run: Keras ``fit`` on a fresh copy of the model, as the article measured it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from tfprof_m1.base.errors import required
from tfprof_m1.base.progress import Progress
from tfprof_m1.collection.fit_run import FitRun
from tfprof_m1.collection.interrupt import TrainingInterrupted, signal_name
from tfprof_m1.collection.strategies import StrategyChoice
from tfprof_m1.report.model import RunConfig
from tfprof_m1.run.progress import finished_epochs, stopped_on_nan
from tfprof_m1.workloads.datasets import TrainData
from tfprof_m1.workloads.models import ModelSpec, build_model
from tfprof_m1.workloads.pipeline import make_dataset

__all__ = ["FIT_JIT_COMPILE", "run_fit_headline"]

#: --fit-jit-compile values and what Keras' compile is given.
FIT_JIT_COMPILE: dict[str, bool | str] = {"auto": "auto", "on": True, "off": False}


@dataclass
class FitHeadline:
    """How the fit run went: its figures (None when not run), why it was not run, notes on an early
    end, and the stop signal that ended it, if one did."""

    fit: FitRun | None = None
    note: str | None = None
    notes: list[str] = field(default_factory=list)
    stop: TrainingInterrupted | None = None


def run_fit_headline(
    spec: ModelSpec,
    data: TrainData,
    config: RunConfig,
    progress: Progress,
    distributed: StrategyChoice,
    batch_size: int,
) -> FitHeadline:
    """Run Keras fit for the headline, under the run's strategy; multi-worker runs skip it (said)."""
    headline = FitHeadline()
    distribution = distributed.distribution
    if distribution is not None and distribution.strategy == "multiworker":
        # Keras 3's fit fails under MultiWorkerMirroredStrategy ("Attempt to convert a value (PerReplica...")
        # with TensorFlow 2.16 and later: keras-team/keras#20585, tensorflow/tensorflow#72388.
        headline.note = (
            "Keras fit not run: Keras 3's fit does not run under MultiWorkerMirroredStrategy "
            "(keras-team/keras#20585); the custom loop's figures stand alone on multi-worker runs"
        )
        progress(f"[{spec.name}] {headline.note}")
        return headline
    from tfprof_m1.collection.fit import run_fit

    progress(f"[{spec.name}] keras fit: {config.epochs} epochs (fresh weights from seed {config.seed})")
    with distributed.scope():
        fit_model = build_model(spec, seed=config.seed)
    fit_data = make_dataset(data, batch_size, required(config.seed, "seed"), config.steps, config.autotune)
    try:
        headline.fit = run_fit(
            fit_model,
            fit_data,
            config.epochs,
            on_epoch=lambda index, ms, logs: progress(
                f"[{spec.name}] fit epoch {index + 1}/{config.epochs}: {ms / 1000.0:.2f} s"
            ),
            stop_on_non_finite=bool(config.stop_on_nan),
            jit_compile=FIT_JIT_COMPILE[config.fit_jit_compile],
            strategy=distributed.strategy,
        )
        fit = headline.fit
        if len(fit.epoch_ms) < config.epochs:
            headline.notes.append(stopped_on_nan("fit", fit.losses[-1], len(fit.epoch_ms), config.epochs))
    except TrainingInterrupted as error:
        headline.stop, headline.fit = error, cast(FitRun, error.partial)
        done = len(headline.fit.epoch_ms)
        headline.notes.append(
            f"{signal_name(error.signum)} in keras fit epoch {done + 1} of {config.epochs}: "
            f"the loop is complete, fit has {finished_epochs(done)}"
        )
    return headline
