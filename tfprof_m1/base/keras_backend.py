"""Which Keras backend a run would get, checked before Keras is imported.

tfprof_m1 profiles TensorFlow: its loop is a ``tf.function`` and its fit headline is Keras on the
TensorFlow backend. Keras 3 picks its backend when first imported, from ``$KERAS_BACKEND`` or else
the ``"backend"`` of ``keras.json`` in its config folder (``$KERAS_HOME``, else ``~/.keras``, else
``/tmp/.keras`` where home is read-only: ``keras/src/backend/config.py``). Any other backend would
end in a traceback when it is not installed, or silently run the fit headline on JAX or PyTorch
when it is; either is refused here in one line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tfprof_m1.base.errors import UserError
from tfprof_m1.base.safe_io import read_bounded

__all__ = ["check_keras_backend", "keras_config_path"]

#: A keras.json is a few hundred bytes.
MAX_KERAS_JSON_BYTES = 2**20


def keras_config_path() -> Path:
    """Where Keras 3 reads ``keras.json``, as ``keras.src.backend.config`` resolves it."""
    home = os.environ.get("KERAS_HOME")
    if not home:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    return Path(os.path.expanduser(home)) / "keras.json"


def check_keras_backend() -> None:
    """Refuse a Keras backend other than TensorFlow, from the environment or ``keras.json``.

    Raises:
        UserError: naming the variable or the file, the backend, and what to change.
    """
    chosen = os.environ.get("KERAS_BACKEND")
    if chosen:
        if chosen != "tensorflow":
            raise UserError(
                f"KERAS_BACKEND={chosen}: tfprof_m1 profiles Keras on the TensorFlow backend; "
                "unset KERAS_BACKEND or set KERAS_BACKEND=tensorflow for this run"
            )
        return
    path = keras_config_path()
    if not path.exists():
        return
    try:
        config = json.loads(read_bounded(path, MAX_KERAS_JSON_BYTES, "keras.json"))
    except (OSError, ValueError):
        return  # Keras ignores a keras.json it cannot parse, and so TensorFlow is its backend
    backend = config.get("backend", "tensorflow") if isinstance(config, dict) else "tensorflow"
    if backend != "tensorflow":
        raise UserError(
            f"{path} names the Keras backend {backend!r}: tfprof_m1 profiles Keras on the TensorFlow "
            'backend; run with KERAS_BACKEND=tensorflow or set "backend": "tensorflow" there'
        )
