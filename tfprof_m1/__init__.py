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
    "PhaseProfiler": "tfprof_m1.profiler",
    "NullProfiler": "tfprof_m1.profiler",
    "EpochTiming": "tfprof_m1.profiler",
    "StepTiming": "tfprof_m1.profiler",
    "attribute_epochs": "tfprof_m1.attribution",
    "EpochBreakdown": "tfprof_m1.attribution",
    "Report": "tfprof_m1.report",
    "load_report": "tfprof_m1.report",
    "MODELS": "tfprof_m1.models",
    "get_spec": "tfprof_m1.models",
    "build_model": "tfprof_m1.models",
    "UserError": "tfprof_m1.errors",
    "TrainSteps": "tfprof_m1.steps",
    "HostReadFence": "tfprof_m1.fence",
    "SyncDevicesFence": "tfprof_m1.fence",
    "detect_fence_kind": "tfprof_m1.fence",
    "make_fence": "tfprof_m1.fence",
    "measure_fence_cost": "tfprof_m1.fence",
    "Sampling": "tfprof_m1.loop",
    "run_profiled_loop": "tfprof_m1.loop",
    "EpochTimer": "tfprof_m1.fit",
    "ProfileCallback": "tfprof_m1.fit",
    "run_fit": "tfprof_m1.fit",
    "TraceWindow": "tfprof_m1.trace",
    "StepRange": "tfprof_m1.trace",
    "PhaseScalarWriter": "tfprof_m1.tensorboard_writer",
    "analyze_run_dir": "tfprof_m1.xplane",
    "build_report": "tfprof_m1.assemble",
    "model_run": "tfprof_m1.assemble",
    "render_text": "tfprof_m1.render",
    "compare_reports": "tfprof_m1.compare",
    "render_comparison": "tfprof_m1.compare_render",
    "plot_reports": "tfprof_m1.plot",
    "TraceSchedule": "tfprof_m1.trace",
    "GarbageSettler": "tfprof_m1.garbage",
    "TrainingInterrupted": "tfprof_m1.interrupt",
    "InterruptGuard": "tfprof_m1.interrupt",
    "DistributedTrainSteps": "tfprof_m1.distributed",
    "BenchOptions": "tfprof_m1.bench",
    "run_benchmark": "tfprof_m1.bench",
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
