"""At the terminal: TensorFlow's C++ log lines are held back unless --verbose, progress is shown
inside long epochs (a bar on a terminal, a line every few seconds elsewhere) at the profiler's cost,
and one TensorBoard command is suggested."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tfprof_m1.run.launch import ended_by
from tfprof_m1.run.native_log import NATIVE_LINE, NativeLines
from tfprof_m1.run.progress import EpochProgress
from tfprof_m1.views.render import tensorboard_command

FAKE_CPP = (
    "import os, sys\n"
    "from tfprof_m1.run.native_log import native_logs_filtered\n"
    "with native_logs_filtered(verbose='-v' in sys.argv):\n"
    "    os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are '\n"
    "             b'written to STDERR\\n')\n"
    "    os.write(2, b'E0000 00:00:1796030373.833229   29074 cuda_platform.cc:52] no cuInit\\n')\n"
    "    os.write(2, b'I1130 08:41:17.123456  1234 cpu_feature_guard.cc:210] This TensorFlow binary\\n')\n"
    "    print('[mnist] the tool speaks', file=sys.stderr, flush=True)\n"
    "    os.write(2, b'F1130 08:41:18.000001  1234 grpc_server_lib.cc:103] Non-OK-status: Stop()\\n')\n"
    "    os.write(2, b'a line of our own without a newline')\n"
)


@pytest.mark.parametrize("verbose", [False, True])
def test_cpp_log_lines_written_to_fd_2_are_held_back_unless_verbose(verbose):
    args = [sys.executable, "-c", FAKE_CPP] + (["-v"] if verbose else [])
    done = subprocess.run(args, capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert "[mnist] the tool speaks" in lines and lines[-1] == "a line of our own without a newline"
    native = [line for line in lines if NATIVE_LINE.match(line.encode())]
    assert len(native) == (4 if verbose else 1)  # a fatal line always passes: it says why a process died
    assert any(line.startswith("F1130 ") and "grpc_server_lib.cc" in line for line in native)


ABORTING_CHILD = (
    "import os\n"
    "os.write(2, b'[mnist] loop epoch 1/2: 5.30 s\\n')\n"
    "os.write(2, b'E1130 08:41:17.000001  1234 base_collective_executor.cc:249] StartAbort\\n')\n"
    "os.write(2, b'I1130 08:41:17.500001  1234 coordination_service_agent.cc:1] Stopping\\n')\n"
    "os.write(2, b'F1130 08:41:18.000001  1234 grpc_server_lib.cc:103] Non-OK-status: Stop()\\n')\n"
    "os.abort()\n"
)


@pytest.mark.parametrize("show_all", [False, True])
def test_a_parent_filters_its_childs_cpp_lines_and_says_what_a_child_killed_by_a_signal_wrote_last(show_all):
    """The launcher's workers leave their C++ lines on stderr (a filter inside a process dies with it
    when TensorFlow aborts); the launcher holds them back and names the signal and the last of them."""
    child = subprocess.Popen([sys.executable, "-c", ABORTING_CHILD], stderr=subprocess.PIPE, text=True)
    native = NativeLines(show_all=show_all)
    shown = [line.rstrip("\n") for line in child.stderr if native.keep(line.rstrip("\n"))]
    returncode = child.wait()
    assert returncode < 0  # a real abort: killed by a signal, no word of its own
    if show_all:
        assert len(shown) == 4
    else:
        assert (
            shown[0] == "[mnist] loop epoch 1/2: 5.30 s" and len(shown) == 2 and shown[1].startswith("F1130 ")
        )
    said = ended_by(returncode, "", list(native.tail))
    assert said.startswith("killed by SIGABRT; its last C++ log line: F1130 ") and "Non-OK-status" in said
    assert ended_by(returncode, "", []) == "killed by SIGABRT"
    # a worker the launcher stopped while it was still starting (no stop handling of its own yet)
    assert ended_by(-15, "", list(native.tail), "after worker 1 failed") == (
        "killed by SIGTERM, sent by the launcher after worker 1 failed, "
        "before the worker had written a report"
    )
    assert ended_by(1, "tfprof_m1: error: MNIST not found", list(native.tail)) == (
        "tfprof_m1: error: MNIST not found"
    )  # a worker that said why keeps its own line


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_is_a_line_every_interval_off_a_terminal_and_a_bar_on_one():
    lines = io.StringIO()
    progress = EpochProgress("mnist", epochs=3, stream=lines)
    assert progress.interval_s >= 5  # a log file gets a line now and then, not a flood
    progress(1, 800, 1563)
    assert lines.getvalue() == "[mnist] loop epoch 2/3: step 800/1,563 (51%)\n"  # no rate known yet
    progress._started -= 10.0  # as if 10 s passed since: 400 steps in 10 s, 363 to go
    progress(1, 1200, 1563)
    assert (
        lines.getvalue().splitlines()[-1] == "[mnist] loop epoch 2/3: step 1,200/1,563 (77%), about 9 s left"
    )
    bar_stream = _Terminal()
    bar = EpochProgress("mnist", epochs=3, stream=bar_stream)
    assert bar.interval_s < 1
    bar(0, 10, 100)
    bar(0, 50, 100)
    assert "50/100" in bar_stream.getvalue()
    bar.clear()
    assert bar_stream.getvalue().endswith("\r\033[K")


@pytest.mark.tf
def test_progress_inside_an_epoch_is_called_between_steps_and_costs_profiling_time():
    import keras
    import numpy as np
    import tensorflow as tf

    from tfprof_m1 import PhaseProfiler, Sampling, TrainSteps, run_profiled_loop

    calls = []

    class Every:
        interval_s = 0.0

        def __call__(self, epoch, step, steps):
            calls.append((epoch, step, steps))

    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices((x, (x[:, 0] > 0).astype("int32"))).batch(8)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    steps = TrainSteps(
        model,
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        keras.optimizers.SGD(),
        dataset.element_spec,
    )
    results = run_profiled_loop(
        steps,
        dataset,
        2,
        8,
        PhaseProfiler(),
        Sampling(every=100, min_samples=0, reference_share=0.0),
        on_step=Every(),
    )
    assert calls[:8] == [(0, i, 8) for i in range(1, 9)] and calls[8:] == [(1, i, 8) for i in range(1, 9)]
    # each call's time is profiling, carried into the step after it (the last one's stays outside steps)
    for result in results:
        fused = [step for step in result.timing.steps[1:]]
        assert all(step.phases_ms.get("profiling", 0.0) > 0 for step in fused)


def test_one_tensorboard_command_names_runs_by_their_folders():
    assert tensorboard_command("runs/cifar10-cpu-20261129-010933") == "tensorboard --logdir runs"
    assert tensorboard_command("/tmp/my runs/x") == "tensorboard --logdir '/tmp/my runs'"
