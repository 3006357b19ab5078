"""Phase names, step kinds and probe variants, defined once.

The order here is the order every table, report and plot uses.
"""

from __future__ import annotations

__all__ = [
    "ALL_REDUCE",
    "BACKWARD",
    "BLOCK",
    "CALL",
    "COMPUTE",
    "DESCRIPTIONS",
    "DISTRIBUTED_PROBE_VARIANTS",
    "EMPTY_CALL",
    "EPOCH_LEVEL_PHASES",
    "EPOCH_START",
    "EXECUTION_NOTES",
    "FORWARD",
    "FORWARD_BACKWARD",
    "FORWARD_BACKWARD_ALL_REDUCE",
    "FORWARD_ONLY",
    "FULL_STEP",
    "FUSED",
    "INPUT",
    "MATH_PHASES",
    "OPTIMIZER",
    "OTHER",
    "PROBE",
    "PROBE_SPANS",
    "PROBE_VARIANTS",
    "PROFILING",
    "REPORTED_PHASES",
    "SPLIT",
    "SYNC",
    "TRACE",
    "UNPROFILED",
    "VALIDATION",
]

INPUT = "input"
#: Invoking the step's tf.function on an idle device: Python, argument handling, launch. Measured
#: by an empty call of the step's signature on sampled steps, kept apart from the model's math.
CALL = "call"
FORWARD = "forward"
BACKWARD = "backward"
#: Under tf.distribute: the cross-replica sum of the gradients (the collective that decides whether
#: a second device or machine helps). Absent from single-device runs.
ALL_REDUCE = "all_reduce"
OPTIMIZER = "optimizer"
SYNC = "sync"
#: The profiler's own extra work inside the epoch: probe calls on sampled steps, their fences, and
#: the fence-coverage check. Counted, never hidden in the other phases.
PROFILING = "profiling"
#: Stretches of fused steps run with no instrumentation at all: the reference the end-to-end
#: profiling cost is measured against. Their time is one slice, not split.
UNPROFILED = "unprofiled"
#: A fused step (forward, backward and optimizer in one call), device-inclusive. Divided into
#: call/forward/backward/optimizer by the proportions measured on sampled steps (attribution.py).
COMPUTE = "compute"
#: Epoch wall time not covered by any measured phase. Always reported, never hidden.
OTHER = "other"
#: Starting and stopping the tf.profiler session (only in the traced epoch).
TRACE = "trace"
#: Keras ``fit`` only: from an epoch's start to its first batch (the input iterator made and
#: started, other callbacks' epoch hooks).
EPOCH_START = "epoch_start"
#: Keras ``fit`` only: ``evaluate`` on the validation data at an epoch's end.
VALIDATION = "validation"

#: Phases a breakdown reports, in display order (``compute`` appears only when it stays unsplit).
REPORTED_PHASES: tuple[str, ...] = (
    INPUT,
    CALL,
    FORWARD,
    BACKWARD,
    ALL_REDUCE,
    OPTIMIZER,
    SYNC,
    PROFILING,
    UNPROFILED,
    TRACE,
    EPOCH_START,
    VALIDATION,
    OTHER,
)
#: The parts of the model's math, without the call: what the article's question is about.
MATH_PHASES: tuple[str, ...] = (FORWARD, BACKWARD, OPTIMIZER)
#: Phases that are not on every step; tables show no per-step figure for them.
EPOCH_LEVEL_PHASES: tuple[str, ...] = (PROFILING, UNPROFILED, TRACE, EPOCH_START, VALIDATION, OTHER)

# -- step kinds -----------------------------------------------------------------------------------
#: A fused step fenced on its own: its compute is its own device-true time (a sample of the fused steps).
FUSED = "fused"
#: A fused step run in a block: consecutive fused steps dispatched without a fence, one fence closing
#: the block; each step's compute is an equal share of the block's (dispatch and the closing wait).
BLOCK = "block"
#: A sampled step: the probe calls, then the real fused step (see collection/steps.py).
PROBE = "probe"
#: A step split into forward/backward/optimizer calls (research loops; TrainSteps.split).
SPLIT = "split"

# -- probe variants: prefix calls of one step, each fenced; their differences are the parts ------
EMPTY_CALL = "empty_call"
FORWARD_ONLY = "forward_only"
FORWARD_BACKWARD = "forward_backward"
#: Under tf.distribute: forward, gradients and their cross-replica sum, without the optimizer.
FORWARD_BACKWARD_ALL_REDUCE = "forward_backward_all_reduce"
FULL_STEP = "full_step"
PROBE_VARIANTS: tuple[str, ...] = (EMPTY_CALL, FORWARD_ONLY, FORWARD_BACKWARD, FULL_STEP)
DISTRIBUTED_PROBE_VARIANTS: tuple[str, ...] = (
    EMPTY_CALL,
    FORWARD_ONLY,
    FORWARD_BACKWARD,
    FORWARD_BACKWARD_ALL_REDUCE,
    FULL_STEP,
)
#: What each probe call is, as the trace viewer shows it (a span of this name around the call): the
#: parts of the table are the differences of consecutive spans (forward = forward, backward =
#: forward+backward − forward, ...).
PROBE_SPANS: dict[str, str] = {
    EMPTY_CALL: "probe: call (empty call)",
    FORWARD_ONLY: "probe: forward",
    FORWARD_BACKWARD: "probe: forward+backward",
    FORWARD_BACKWARD_ALL_REDUCE: "probe: forward+backward+all_reduce",
    FULL_STEP: "probe: forward+backward+optimizer (the training step)",
}

#: What each phase holds, by the kind of device the run executed on. ``async`` is any device whose
#: calls return before the work is done (a GPU, or the CPU under the asynchronous executor).
DESCRIPTIONS: dict[str, str] = {
    INPUT: "host time blocked in next() of the input pipeline",
    CALL: (
        "invoking the step's tf.function on an idle device (Python, arguments, launch): "
        "an empty call of the same signature"
    ),
    FORWARD: "forward pass and loss, device-inclusive: from dispatch to the end of the device work",
    BACKWARD: "gradient computation, device-inclusive",
    ALL_REDUCE: (
        "cross-replica sum of the gradients (tf.distribute's all-reduce), device-inclusive, slowest replica"
    ),
    OPTIMIZER: "apply_gradients (and the step's metric updates), device-inclusive",
    SYNC: "the device fences' own cost (a fence on an idle device), plus fence waits no phase owns",
    PROFILING: (
        "the profiler's extra calls (probes on sampled steps, the fence-coverage check); what "
        "profiling costs in all, fences and lost overlap included, is the end-to-end profiling cost"
    ),
    UNPROFILED: "steps run with no instrumentation, as the reference for the profiling cost (not split)",
    COMPUTE: "fused step time (dispatch and device work) not split into parts (no samples)",
    TRACE: "starting and stopping the tf.profiler session (only in the traced epoch)",
    EPOCH_START: "fit: from the epoch's start to its first batch (input iterator started, epoch hooks)",
    VALIDATION: "fit: evaluate on the validation data at the epoch's end",
    OTHER: "epoch wall time not covered by the phases above",
}

#: How the fused-step parts relate to host and device on each kind of execution.
EXECUTION_NOTES: dict[str, str] = {
    "synchronous": (
        "calls return when the work is done: each part's time is host time, and its device wait is near zero"
    ),
    "asynchronous": (
        "calls return once work is queued: each part's time runs from its dispatch to the end of its device "
        "work (the fence wait after it, less the fence's own cost); 'host' and 'device wait' say which side "
        "was busy"
    ),
}
