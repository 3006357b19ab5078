"""A multi-worker rehearsal on one machine: N workers over loopback, then their merged view.

Each worker is ``python -m tfprof_m1 MODEL ... --strategy multiworker`` (started, and heard back
from, through :mod:`tfprof_m1.run.child`) with its own ``TF_CONFIG`` (every worker's 127.0.0.1
address, ports chosen free, and its index), its run directory in the launch directory
(``<model>-<device>-<time>-worker<i>``, one trace each, the same global step numbers, so TensorBoard
shows them side by side), its report as ``worker-<i>.json`` and its rendered tables as
``worker-<i>.txt``. Their progress lines are relayed with a ``[worker i]`` prefix; their C++ log
lines are held back here, in the launcher, not in the worker (a worker that TensorFlow aborts takes
its own filter down with it), so a worker killed by a signal is reported with the signal's name and
the last C++ line it wrote (``--verbose`` shows them all).

A worker that fails, or the launch's time limit, ends the others: a worker blocked in a collective
does not run Python signal handlers, so each gets SIGTERM and, after a grace period, SIGKILL. A stop
signal to the launcher is passed on to the workers the same way, and what they wrote is merged. On a
real cluster, start one worker per machine with its own TF_CONFIG instead, and merge their reports
with ``python -m tfprof_m1 merge``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tfprof_m1.base.progress import Progress
from tfprof_m1.collection.interrupt import owned_child, signal_name
from tfprof_m1.report.model import RunConfig
from tfprof_m1.run.child import GRACE_S, Child, stop_processes
from tfprof_m1.run.native_log import NativeLines, shows_native_lines
from tfprof_m1.run.outputs import OutputSettings

__all__ = ["ended_by", "free_ports", "launch", "tf_config"]


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 now (held open together while chosen)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def tf_config(addresses: Sequence[str], index: int) -> str:
    """The TF_CONFIG of worker ``index`` in a cluster of ``addresses``."""
    return json.dumps({"cluster": {"worker": list(addresses)}, "task": {"type": "worker", "index": index}})


@dataclass
class WorkerOutcome:
    """How one launched worker ended: its report path and exit status."""

    index: int
    report: Path
    returncode: int | None
    #: The line the worker ended with (its error, or the stop it wrote its report after), from the
    #: record it wrote (empty when it wrote none).
    last_line: str = ""
    killed: bool = False
    #: Why the launcher sent this worker its stop signal (empty when it did not): "after worker 1
    #: failed", "past --timeout 240 s", "on a stop signal to the launcher".
    stopped_because: str = ""


def _relay(stream: IO[str], prefix: str, say: Progress, native: NativeLines) -> None:
    for line in stream:
        line = line.rstrip("\n")
        if line and native.keep(line):
            say(f"{prefix}{line}")


def ended_by(returncode: int | None, line: str, native_tail: Sequence[str], stopped_because: str = "") -> str:
    """What a worker's outcome says after its exit status: the line it ended with; for a worker a
    signal killed without a word of its own, the signal's name and either why the launcher sent it
    (``stopped_because``: a worker still starting, before its own stop handling is in place, dies of
    the launcher's SIGTERM without writing) or the last C++ log line it wrote (what TensorFlow printed
    before an abort)."""
    if line or returncode is None or returncode >= 0:
        return line
    said = f"killed by {signal_name(-returncode)}"
    if stopped_because:
        return f"{said}, sent by the launcher {stopped_because}, before the worker had written a report"
    return f"{said}; its last C++ log line: {native_tail[-1].strip()}" if native_tail else said


def launch(
    config: RunConfig,
    output: OutputSettings,
    workers: int,
    out_dir: Path,
    timeout_s: float,
    say: Progress,
    quiet: bool = False,
    grace_s: float = GRACE_S,
) -> list[WorkerOutcome]:
    """Start ``workers`` local workers running ``config`` under ``--strategy multiworker``, their
    run directories in ``out_dir`` (``output``'s trace settings kept), and wait for them (at most
    ``timeout_s``).

    Raises:
        KeyboardInterrupt: a stop signal reached the launcher; the workers were stopped first (their
            outcomes are on the exception as ``outcomes``).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    addresses = [f"127.0.0.1:{port}" for port in free_ports(workers)]
    config = dataclasses.replace(config, strategy="multiworker")
    output = dataclasses.replace(output, logdir=str(out_dir))
    with contextlib.ExitStack() as owned:
        children, relays, outcomes, natives = [], [], [], []
        for index in range(workers):
            report = out_dir / f"worker-{index}.json"
            environment = dict(os.environ, TF_CONFIG=tf_config(addresses, index))
            environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
            with open(out_dir / f"worker-{index}.txt", "w", encoding="utf-8") as text:
                # A session of its own: a Ctrl-C in the terminal reaches the launcher only, which passes it
                # on once (a worker given two stops would abort without writing its report).
                child = owned.enter_context(
                    Child(
                        config,
                        output,
                        report,
                        quiet=quiet,
                        verbose=True,  # its C++ lines are filtered here (see the module docstring)
                        env=environment,
                        stdout=text,
                        stderr=subprocess.PIPE,
                        new_session=True,
                    )
                )
            native = NativeLines(show_all=shows_native_lines())
            relay = threading.Thread(
                target=_relay, args=(child.process.stderr, f"[worker {index}] ", say, native), daemon=True
            )
            relay.start()
            owned.enter_context(
                owned_child(child.process.pid)
            )  # a second stop ends the workers with the launcher
            children.append(child)
            relays.append(relay)
            natives.append(native)
            outcomes.append(WorkerOutcome(index, report, None))
        processes = [child.process for child in children]
        say(
            f"launched {workers} workers ({', '.join(addresses)}); run directories, "
            f"reports and traces in {out_dir}"
        )
        deadline = time.monotonic() + timeout_s
        killed = [False] * workers

        def stop_running(signum: int, because: str, grace: float) -> list[bool]:
            for outcome, process in zip(outcomes, processes):
                if process.poll() is None:
                    outcome.stopped_because = because
            return stop_processes(processes, signum, grace)

        try:
            while any(process.poll() is None for process in processes):
                failed = [p for p in processes if p.poll() not in (None, 0)]
                if failed:
                    index = processes.index(failed[0])
                    say(f"worker {index} failed (exit {failed[0].returncode}): ending the others")
                    killed = stop_running(signal.SIGTERM, f"after worker {index} failed", min(grace_s, 10.0))
                    break
                if time.monotonic() > deadline:
                    say(f"the workers ran past --timeout {timeout_s:g} s: ending them")
                    killed = stop_running(signal.SIGTERM, f"past --timeout {timeout_s:g} s", grace_s)
                    break
                time.sleep(0.2)
        except KeyboardInterrupt as stop:
            signum = int(getattr(stop, "signum", signal.SIGINT))
            killed = stop_running(signum, "on a stop signal to the launcher", grace_s)
            stop.outcomes = _outcomes(outcomes, children, relays, natives, killed)  # type: ignore[attr-defined]
            raise
        return _outcomes(outcomes, children, relays, natives, killed)


def _outcomes(
    outcomes: list[WorkerOutcome],
    children: Sequence[Child],
    relays: Sequence[threading.Thread],
    natives: Sequence[NativeLines],
    killed: Sequence[bool],
) -> list[WorkerOutcome]:
    for outcome, child, relay, native, was_killed in zip(outcomes, children, relays, natives, killed):
        relay.join(timeout=5)
        outcome.returncode = child.process.poll()
        line = child.result().line if outcome.returncode is not None else ""
        outcome.last_line = ended_by(outcome.returncode, line, list(native.tail), outcome.stopped_because)
        outcome.killed = was_killed
    return outcomes
