"""tfprof_m1: where does a TensorFlow training epoch go?

Importing the package is cheap: TensorFlow is imported only when a name that needs it is used
(so ``python -m tfprof_m1 --help`` and ``show`` answer at once).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# name -> module that defines it; loaded on first use.
_EXPORTS = {
    "PhaseProfiler": "tfprof_m1.collection.profiler",
    "NullProfiler": "tfprof_m1.collection.profiler",
    "EpochTiming": "tfprof_m1.collection.profiler",
    "StepTiming": "tfprof_m1.collection.profiler",
    "attribute_epochs": "tfprof_m1.analysis.attribution",
    "EpochBreakdown": "tfprof_m1.analysis.attribution",
    "Report": "tfprof_m1.report.model",
    "load_report": "tfprof_m1.report.model",
    "MODELS": "tfprof_m1.workloads.models",
    "get_spec": "tfprof_m1.workloads.models",
    "build_model": "tfprof_m1.workloads.models",
    "UserError": "tfprof_m1.base.errors",
    "TrainSteps": "tfprof_m1.collection.steps",
    "HostReadFence": "tfprof_m1.collection.fence",
    "SyncDevicesFence": "tfprof_m1.collection.fence",
    "detect_fence_kind": "tfprof_m1.collection.fence",
    "make_fence": "tfprof_m1.collection.fence",
    "measure_fence_cost": "tfprof_m1.collection.fence",
    "Sampling": "tfprof_m1.collection.loop",
    "run_profiled_loop": "tfprof_m1.collection.loop",
    "EpochTimer": "tfprof_m1.collection.fit",
    "ProfileCallback": "tfprof_m1.run.fit_callback",
    "run_fit": "tfprof_m1.collection.fit",
    "TraceWindow": "tfprof_m1.trace.window",
    "StepRange": "tfprof_m1.trace.window",
    "PhaseScalarWriter": "tfprof_m1.views.tensorboard_writer",
    "analyze_run_dir": "tfprof_m1.trace.xplane",
    "build_report": "tfprof_m1.analysis.assemble",
    "build_model_run": "tfprof_m1.analysis.assemble",
    "render_text": "tfprof_m1.views.render",
    "compare_reports": "tfprof_m1.analysis.compare",
    "render_comparison": "tfprof_m1.views.compare_render",
    "plot_reports": "tfprof_m1.views.plot",
    "TraceSchedule": "tfprof_m1.trace.window",
    "GarbageSettler": "tfprof_m1.collection.garbage",
    "TrainingInterrupted": "tfprof_m1.collection.interrupt",
    "InterruptGuard": "tfprof_m1.collection.interrupt",
    "DistributedTrainSteps": "tfprof_m1.collection.distributed",
    "RunConfig": "tfprof_m1.report.model",
    "OutputSettings": "tfprof_m1.run.outputs",
    "run_benchmark": "tfprof_m1.run.bench",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tfprof_m1' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
