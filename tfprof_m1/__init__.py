"""tfprof_m1: where does a TensorFlow training epoch go?

The public surface is small, in three groups (docs/api.md):

- measure: ``PhaseProfiler``, ``TrainSteps``, ``Sampling``, ``run_profiled_loop``, ``make_fence``,
  ``detect_fence_kind``, ``ProfileCallback`` (Keras ``fit``), ``TraceWindow``, ``StepRange``;
- record: ``Report``, ``load_report``, ``build_report`` (and ``UserError``, the one-line error of a
  bad input);
- view: ``render``, ``compare``, ``plot_reports``.

Everything else is imported from its module, which lists what it offers in ``__all__`` (for example
``from tfprof_m1.collection.profiler import NullProfiler``).

Importing the package is cheap: TensorFlow is imported only when a name that needs it is used
(so ``python -m tfprof_m1 --help`` and ``show`` answer at once).
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# name -> module that defines it; loaded on first use.
_MEASURE = {
    "PhaseProfiler": "tfprof_m1.collection.profiler",
    "TrainSteps": "tfprof_m1.collection.steps",
    "Sampling": "tfprof_m1.collection.loop",
    "run_profiled_loop": "tfprof_m1.collection.loop",
    "make_fence": "tfprof_m1.collection.fence",
    "detect_fence_kind": "tfprof_m1.collection.fence",
    "ProfileCallback": "tfprof_m1.run.fit_callback",
    "TraceWindow": "tfprof_m1.trace.window",
    "StepRange": "tfprof_m1.trace.window",
}
_RECORD = {
    "Report": "tfprof_m1.report.model",
    "load_report": "tfprof_m1.report.model",
    "build_report": "tfprof_m1.analysis.assemble",
    "UserError": "tfprof_m1.base.errors",
}
_VIEW = {
    "render": "tfprof_m1.views.render",
    "compare": "tfprof_m1.analysis.compare",
    "plot_reports": "tfprof_m1.views.plot",
}
_EXPORTS = {**_MEASURE, **_RECORD, **_VIEW}

__all__ = [
    "__version__",
    # measure
    "PhaseProfiler",
    "TrainSteps",
    "Sampling",
    "run_profiled_loop",
    "make_fence",
    "detect_fence_kind",
    "ProfileCallback",
    "TraceWindow",
    "StepRange",
    # record
    "Report",
    "load_report",
    "build_report",
    "UserError",
    # view
    "render",
    "compare",
    "plot_reports",
]

if TYPE_CHECKING:
    from tfprof_m1.analysis.assemble import build_report
    from tfprof_m1.analysis.compare import compare
    from tfprof_m1.base.errors import UserError
    from tfprof_m1.collection.fence import detect_fence_kind, make_fence
    from tfprof_m1.collection.loop import Sampling, run_profiled_loop
    from tfprof_m1.collection.profiler import PhaseProfiler
    from tfprof_m1.collection.steps import TrainSteps
    from tfprof_m1.report.model import Report, load_report
    from tfprof_m1.run.fit_callback import ProfileCallback
    from tfprof_m1.trace.window import StepRange, TraceWindow
    from tfprof_m1.views.plot import plot_reports
    from tfprof_m1.views.render import render


#: Names the package exported before its surface was cut to the ones above (0.1): old name ->
#: (module, name there). They still import, with a DeprecationWarning that says where they live now,
#: so research code written against the old surface keeps running; they are not in ``__all__``.
_MOVED = {
    "NullProfiler": ("tfprof_m1.collection.profiler", "NullProfiler"),
    "EpochTiming": ("tfprof_m1.collection.profiler", "EpochTiming"),
    "StepTiming": ("tfprof_m1.collection.step_table", "StepTiming"),
    "attribute_epochs": ("tfprof_m1.analysis.attribution", "attribute_epochs"),
    "EpochBreakdown": ("tfprof_m1.analysis.attribution", "EpochBreakdown"),
    "MODELS": ("tfprof_m1.workloads.models", "MODELS"),
    "get_spec": ("tfprof_m1.workloads.models", "get_spec"),
    "build_model": ("tfprof_m1.workloads.models", "build_model"),
    "HostReadFence": ("tfprof_m1.collection.fence", "HostReadFence"),
    "SyncDevicesFence": ("tfprof_m1.collection.fence", "SyncDevicesFence"),
    "measure_fence_cost": ("tfprof_m1.collection.fence", "measure_fence_cost"),
    "EpochTimer": ("tfprof_m1.collection.fit", "EpochTimer"),
    "run_fit": ("tfprof_m1.collection.fit", "run_fit"),
    "TraceSchedule": ("tfprof_m1.trace.window", "TraceSchedule"),
    "PhaseScalarWriter": ("tfprof_m1.views.tensorboard_writer", "PhaseScalarWriter"),
    "analyze_run_dir": ("tfprof_m1.trace.xplane", "analyze_run_dir"),
    "model_run": ("tfprof_m1.analysis.assemble", "build_model_run"),
    "GarbageSettler": ("tfprof_m1.collection.garbage", "GarbageSettler"),
    "TrainingInterrupted": ("tfprof_m1.collection.interrupt", "TrainingInterrupted"),
    "InterruptGuard": ("tfprof_m1.collection.interrupt", "InterruptGuard"),
    "DistributedTrainSteps": ("tfprof_m1.collection.distributed", "DistributedTrainSteps"),
    "RunConfig": ("tfprof_m1.report.model", "RunConfig"),
    "OutputSettings": ("tfprof_m1.run.outputs", "OutputSettings"),
    "run_benchmark": ("tfprof_m1.run.bench", "run_benchmark"),
    "render_text": ("tfprof_m1.views.render", "render_text"),
    "compare_reports": ("tfprof_m1.analysis.compare", "compare"),
    "render_comparison": ("tfprof_m1.views.compare_render", "render_comparison"),
}


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
    if name in _MOVED:
        where, new = _MOVED[name]
        warnings.warn(
            f"tfprof_m1.{name} is no longer a top-level name: use "
            f"'from {where} import {new}'" + ("" if new == name else f" (renamed from {name})"),
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(where), new)
    raise AttributeError(f"module 'tfprof_m1' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
