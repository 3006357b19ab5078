"""Phase names, defined once.

The order here is the order every table, report and plot uses.
"""

from __future__ import annotations

INPUT = "input"
FORWARD = "forward"
BACKWARD = "backward"
OPTIMIZER = "optimizer"
SYNC = "sync"
#: Host time of a fused step (forward, backward and optimizer in one call). Split into the three
#: phases above by the proportions measured on sampled split steps (see attribution.py).
COMPUTE = "compute"
#: Epoch wall time not covered by any measured phase. Always reported, never hidden.
OTHER = "other"

#: Phases a breakdown reports, in display order.
REPORTED_PHASES: tuple[str, ...] = (INPUT, FORWARD, BACKWARD, OPTIMIZER, SYNC, OTHER)
#: The phases of a split step whose proportions divide a fused step's compute time.
COMPUTE_PHASES: tuple[str, ...] = (FORWARD, BACKWARD, OPTIMIZER)

DESCRIPTIONS: dict[str, str] = {
    INPUT: "host time blocked in next() of the input pipeline",
    FORWARD: "forward pass and loss",
    BACKWARD: "gradient computation",
    OPTIMIZER: "apply_gradients",
    SYNC: "host waiting in device fences for queued device work",
    COMPUTE: "fused step host time not yet split into forward/backward/optimizer",
    "trace": "starting and stopping the tf.profiler session (only in the traced epoch)",
    OTHER: "epoch wall time not covered by the phases above",
}
