"""Runs ``python -m tfprof_m1 ARGS`` jobs one after another in one interpreter, for the test suite.

A TensorFlow import costs 6-7 s of CPU here and most of the suite's command-line runs train a few
steps; this process imports TensorFlow once and runs each job through the same entry point
``python -m tfprof_m1`` uses (``tfprof_m1.__main__.run``), with the job's own working directory,
``sys.argv``, and its stdout and stderr (file descriptors 1 and 2, so TensorFlow's C++ lines and
anything else a run writes land in its own files). ``tests/conftest.py:run_cli`` sends it the runs
that do not depend on a fresh process; runs that do (an environment of their own, the
asynchronous executor or logical devices, which are set once per process, ``--verbose`` start-up
lines, ``env``, ``launch``) still start ``python -m tfprof_m1`` of their own.

Protocol: one JSON object a line on stdin (``args``, ``cwd``, ``env``: the environment it runs
with, ``stdout`` and ``stderr``: paths the job's output goes to); one JSON line
``{"returncode": N}`` on the file descriptor given as ``argv[1]`` when the job ends. The process
ends when stdin closes.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
import warnings
from pathlib import Path


def _exit_code(error: SystemExit) -> int:
    """The status ``sys.exit(code)`` gives a process (a message is printed and gives 1)."""
    if error.code is None:
        return 0
    if isinstance(error.code, int):
        return error.code
    print(error.code, file=sys.stderr)
    return 1


def _run_job(job: dict, entry: str) -> int:
    from tfprof_m1.__main__ import run
    from tfprof_m1.views.width import WIDTH, set_width

    with open(job["stdout"], "wb") as out, open(job["stderr"], "wb") as err:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        cwd, argv, environ = os.getcwd(), sys.argv, dict(os.environ)
        os.environ.clear()
        os.environ.update(job["env"])
        os.chdir(job["cwd"])
        sys.argv = [entry, *job["args"]]
        try:
            with warnings.catch_warnings():  # each job sees a warning as a fresh process would
                code = run(list(job["args"])) or 0
        except SystemExit as error:
            code = _exit_code(error)
        except BaseException:  # noqa: BLE001 - a fresh process would print it and exit 1
            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            os.chdir(cwd)
            sys.argv = argv
            os.environ.clear()
            os.environ.update(environ)
            set_width(WIDTH)  # --wide is process-wide
    return code


def main() -> None:
    results = os.fdopen(int(sys.argv[1]), "w", buffering=1)
    import tensorflow  # noqa: F401 - once, before the first job

    import tfprof_m1

    entry = str(Path(tfprof_m1.__file__).with_name("__main__.py"))
    for line in sys.stdin:
        code = _run_job(json.loads(line), entry)
        results.write(json.dumps({"returncode": code}) + "\n")


if __name__ == "__main__":
    main()
