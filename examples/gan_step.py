"""Profile a step TrainSteps cannot express: a GAN with two models, two optimizers and gradient
clipping, with phases of your own (nested, each owning its device time).

    python examples/gan_step.py                       # 3 epochs of 200 steps
    python examples/gan_step.py --steps 20 --json gan.json

Most steps run fused (one tf.function: the true throughput); every ``--split-every``-th step runs
split into the phases below, each fenced. The split steps' proportions divide the fused steps'
compute, exactly as the built-in loop does with forward/backward/optimizer.
"""

from __future__ import annotations

import argparse
import contextlib

import keras
import numpy as np
import tensorflow as tf

from tfprof_m1 import (
    PhaseProfiler,
    Sampling,
    TraceWindow,
    build_report,
    detect_fence_kind,
    make_fence,
    render,
)
from tfprof_m1.collection.loop import ProbePlan
from tfprof_m1.trace.window import default_step_range

NOISE = 32


class Gan:
    def __init__(self) -> None:
        keras.utils.set_random_seed(0)
        self.generator = keras.Sequential(
            [
                keras.Input((NOISE,)),
                keras.layers.Dense(128, activation="relu"),
                keras.layers.Dense(784, activation="tanh"),
            ],
            name="generator",
        )
        self.discriminator = keras.Sequential(
            [keras.Input((784,)), keras.layers.Dense(128, activation="relu"), keras.layers.Dense(1)],
            name="discriminator",
        )
        self.g_optimizer, self.d_optimizer = keras.optimizers.Adam(2e-4), keras.optimizers.Adam(2e-4)
        self.loss = keras.losses.BinaryCrossentropy(from_logits=True)
        self.fused = tf.function(self._fused)
        self.d_forward, self.g_forward = tf.function(self._d_forward), tf.function(self._g_forward)
        self.d_apply, self.g_apply = tf.function(self._d_apply), tf.function(self._g_apply)
        self.clip = tf.function(self._clip)

    def _d_forward(self, real, noise):
        real_logits = self.discriminator(real, training=True)
        fake_logits = self.discriminator(self.generator(noise, training=True), training=True)
        return self.loss(tf.ones_like(real_logits), real_logits) + self.loss(
            tf.zeros_like(fake_logits), fake_logits
        )

    def _g_forward(self, noise):
        fake_logits = self.discriminator(self.generator(noise, training=True), training=True)
        return self.loss(tf.ones_like(fake_logits), fake_logits)

    def _clip(self, grads):
        return tf.clip_by_global_norm(grads, 1.0)[0]

    def _d_apply(self, grads):
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_variables))

    def _g_apply(self, grads):
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))

    def _fused(self, real, noise):
        with tf.GradientTape() as tape:
            d_loss = self._d_forward(real, noise)
        self._d_apply(self._clip(tape.gradient(d_loss, self.discriminator.trainable_variables)))
        with tf.GradientTape() as tape:
            g_loss = self._g_forward(noise)
        self._g_apply(tape.gradient(g_loss, self.generator.trainable_variables))
        return g_loss

    def split(self, real, noise, profiler: PhaseProfiler):
        """The same step in parts; ``sync=True`` fences after each, so each owns its device work."""
        with profiler.phase("discriminator"):
            with profiler.phase("forward", sync=True) as part:
                with tf.GradientTape() as tape:
                    part.outputs = d_loss = self.d_forward(real, noise)
            with profiler.phase("backward", sync=True) as part:
                part.outputs = grads = tape.gradient(d_loss, self.discriminator.trainable_variables)
            with profiler.phase("clip", sync=True) as part:
                part.outputs = grads = self.clip(grads)
            with profiler.phase("optimizer", sync=True):
                self.d_apply(grads)
        with profiler.phase("generator"):
            with profiler.phase("forward", sync=True) as part:
                with tf.GradientTape() as tape:
                    part.outputs = g_loss = self.g_forward(noise)
            with profiler.phase("backward", sync=True) as part:
                part.outputs = grads = tape.gradient(g_loss, self.generator.trainable_variables)
            with profiler.phase("optimizer", sync=True):
                self.g_apply(grads)
        return g_loss


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--split-every", type=int, default=10)
    parser.add_argument(
        "--logdir", help="trace up to 10 steps of the second epoch into this TensorBoard logdir"
    )
    parser.add_argument("--json", help="also save the report here")
    args = parser.parse_args()

    gan = Gan()
    images = np.random.default_rng(0).uniform(-1, 1, size=(args.steps * 64, 784)).astype("float32")
    options = tf.data.Options()
    options.autotune.enabled = False  # with it on, the iterator's teardown waits for the autotuner
    real = tf.data.Dataset.from_tensor_slices(images).batch(64).prefetch(2).with_options(options)
    profiler = PhaseProfiler(
        fence=make_fence(detect_fence_kind(), lambda: gan.generator.trainable_variables[-1])
    )
    # The library's plan, epoch by epoch: 1 step in --split-every is split ("probe" in the plan),
    # 10 % of the steps run unprofiled in stretches (the reference for what profiling costs; short
    # epochs pool theirs, a stretch every few epochs), the rest fused.
    planner = ProbePlan(Sampling(every=args.split_every, min_samples=5))
    plans = [planner.next_epoch(args.steps) for _ in range(args.epochs)]
    # the library's default window: in the second epoch, off its unprofiled stretch (a traced step
    # runs profiled, which would take the epoch's cost reference away)
    second = plans[min(1, args.epochs - 1)]
    steps_traced = default_step_range(
        args.steps,
        args.epochs,
        [i for i, kind in enumerate(second) if kind == "probe"],
        [i for i, kind in enumerate(second) if kind == "unprofiled"],
    )
    window = TraceWindow(args.logdir, steps_traced, profiler) if args.logdir else None
    global_step = 0
    with window or contextlib.nullcontext():
        for plan in plans:
            with profiler.epoch():
                batches = profiler.timed(real)  # next() is timed as "input"
                index = 0
                while index < len(plan):
                    if plan[index] == "unprofiled":
                        with profiler.unprofiled() as stretch:  # nothing inside is timed
                            while index < len(plan) and plan[index] == "unprofiled":
                                stretch.token = gan.fused(next(batches), tf.random.normal([64, NOISE]))
                                stretch.steps, stretch.examples, index, global_step = (
                                    stretch.steps + 1,
                                    stretch.examples + 64,
                                    index + 1,
                                    global_step + 1,
                                )
                        continue
                    # the trace marks the whole step, its next() included, as XProf needs
                    with window.step(global_step) if window else contextlib.nullcontext():
                        batch = next(batches)
                        kind = "split" if plan[index] == "probe" else "fused"
                        with profiler.step(kind=kind, examples=64):
                            with profiler.phase(
                                "noise"
                            ):  # every step has it: timed as itself, not a part of compute
                                noise = tf.random.normal([64, NOISE])
                            if kind == "split":
                                gan.split(batch, noise, profiler)
                            else:
                                profiler.call(
                                    "compute", gan.fused, batch, noise
                                )  # fenced: owns its device work
                    index, global_step = index + 1, global_step + 1
                next(batches, None)  # the final next() ends the iterator (its teardown is input time too)
    report = build_report(profiler, model="gan", trace=window)
    print(render(report))
    if args.json:
        print(f"saved {report.save(args.json)}")


if __name__ == "__main__":
    main()
