"""A step TrainSteps cannot express (a GAN: two models, two optimizers, gradient clipping), profiled
with the public profiler API: fused steps, split steps with nested custom phases that own their
device time, a report through public names, and the phases as annotations in the trace."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfprof_m1 import PhaseProfiler, StepRange, TraceWindow, build_report, detect_fence_kind, make_fence, render_text
from tfprof_m1.xplane import find_xplane_files, read_xspace

NOISE = 8


class TinyGan:
    def __init__(self) -> None:
        keras.utils.set_random_seed(0)
        self.generator = keras.Sequential([keras.Input((NOISE,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(4)])
        self.discriminator = keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
        self.g_optimizer, self.d_optimizer = keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3)
        self.loss = keras.losses.BinaryCrossentropy(from_logits=True)
        self.fused = tf.function(self._fused)
        self.d_forward = tf.function(self._d_forward)
        self.g_forward = tf.function(self._g_forward)
        self.apply_d = tf.function(lambda grads: self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_variables)))
        self.apply_g = tf.function(lambda grads: self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables)))

    def _d_forward(self, real, noise):
        fake = self.generator(noise, training=True)
        real_logits, fake_logits = self.discriminator(real, training=True), self.discriminator(fake, training=True)
        return self.loss(tf.ones_like(real_logits), real_logits) + self.loss(tf.zeros_like(fake_logits), fake_logits)

    def _g_forward(self, noise):
        fake_logits = self.discriminator(self.generator(noise, training=True), training=True)
        return self.loss(tf.ones_like(fake_logits), fake_logits)

    def _fused(self, real, noise):
        with tf.GradientTape() as tape:
            d_loss = self._d_forward(real, noise)
        d_grads = tape.gradient(d_loss, self.discriminator.trainable_variables)
        self.d_optimizer.apply_gradients(zip(tf.clip_by_global_norm(d_grads, 1.0)[0], self.discriminator.trainable_variables))
        with tf.GradientTape() as tape:
            g_loss = self._g_forward(noise)
        g_grads = tape.gradient(g_loss, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(g_grads, self.generator.trainable_variables))
        return g_loss

    def split(self, real, noise, profiler: PhaseProfiler):
        with profiler.phase("discriminator"):
            with profiler.phase("forward", sync=True) as part:
                with tf.GradientTape() as tape:
                    part.outputs = d_loss = self.d_forward(real, noise)
            with profiler.phase("backward", sync=True) as part:
                part.outputs = d_grads = tape.gradient(d_loss, self.discriminator.trainable_variables)
            with profiler.phase("clip", sync=True) as part:
                part.outputs = d_grads = tf.clip_by_global_norm(d_grads, 1.0)[0]
            with profiler.phase("optimizer", sync=True):
                self.apply_d(d_grads)
        with profiler.phase("generator"):
            with profiler.phase("forward", sync=True) as part:
                with tf.GradientTape() as tape:
                    part.outputs = g_loss = self.g_forward(noise)
            with profiler.phase("backward", sync=True) as part:
                part.outputs = g_grads = tape.gradient(g_loss, self.generator.trainable_variables)
            with profiler.phase("optimizer", sync=True):
                self.apply_g(g_grads)
        return g_loss


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    gan = TinyGan()
    real = tf.data.Dataset.from_tensor_slices(np.random.default_rng(0).normal(size=(32 * 16, 4)).astype("float32")).batch(32)
    profiler = PhaseProfiler(fence=make_fence(detect_fence_kind(), lambda: gan.generator.trainable_variables[-1]))
    logdir = tmp_path_factory.mktemp("gan")
    step = 0
    with TraceWindow(logdir, StepRange(20, 24), profiler) as window:
        for _ in range(2):
            with profiler.epoch():
                for index, batch in enumerate(profiler.timed(real)):
                    noise = tf.random.normal([32, NOISE])
                    with window.step(step), profiler.step(kind="split" if index % 4 == 1 else "fused", examples=32):
                        if index % 4 == 1:
                            gan.split(batch, noise, profiler)
                        else:
                            profiler.call("compute", gan.fused, batch, noise)
                    step += 1
    return profiler, window, logdir


def test_custom_phases_attribute_fused_steps_and_add_up(gan_run):
    profiler, window, _ = gan_run
    report = build_report(profiler, model="gan", trace=window)
    run = report.run("gan")
    assert run.custom_phases == ["discriminator", "discriminator/forward", "discriminator/backward", "discriminator/clip",
                                 "discriminator/optimizer", "generator", "generator/forward", "generator/backward",
                                 "generator/optimizer"]
    steady = run.epochs[1]
    assert steady.proportions_source == "pooled" and set(steady.proportions) == set(run.custom_phases)
    shown = [phase.phase for phase in run.steady.phases]
    assert shown[0] == "input" and "compute" not in shown and "forward" not in shown and shown[-1] == "other"
    assert shown.index("discriminator/clip") < shown.index("generator/forward")  # the order first seen
    for epoch in run.epochs:
        assert sum(phase.total_ms for phase in epoch.phases) == pytest.approx(epoch.wall_ms)
        # every step (fused ones too) carries a clip share: the split steps' proportion scaled to them
        assert all(value > 0 for value in epoch.step_ms["discriminator/clip"])
    # every part of a split step was fenced (sync=True): seven fences' own cost is in sync
    split_step = profiler.epochs[1].steps[1]
    assert split_step.kind == "split" and split_step.phases_ms["sync"] > profiler.epochs[1].steps[0].phases_ms["sync"]
    assert "own phases: discriminator" in render_text(report)
    assert "own phases" in report.method


def test_each_phase_is_an_annotation_in_the_trace(gan_run):
    _, window, logdir = gan_run
    assert window.traced_steps == [20, 21, 22, 23] and not window.running
    names = set()
    for path in find_xplane_files(logdir):
        for plane in read_xspace(path).planes:
            names |= {metadata.name for metadata in plane.event_metadata.values()}
    assert {"discriminator/clip", "generator/backward", "compute", "input"} <= names
