"""Cross-check of the counted forward FLOPs: TensorFlow's own graph profiler against models.py.

    .venv/bin/python benchmarks/flops_check.py

models.py counts 2 × multiply-adds of the Dense and Conv2D layers per example (what achieved FLOP/s
is computed from). Here the forward pass of each article model is traced for one example, frozen,
and TensorFlow's v1 graph profiler (``float_operation``) counts every floating-point op in it
(bias adds, activations and pooling too), independently of our count; the same for forward and
gradients, whose difference is the backward's FLOPs, against models.py's backward count. Prints
both, as Markdown. (The profiler counts a Conv2D filter gradient over the layer's input size, where
the gradient's multiply-adds follow the output size as the forward's do, so its backward is higher
for convolutions; bias, pooling and activation gradients add a little more.)
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> int:
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from tfprof_m1.workloads.models import MODELS, build_model

    print(
        "| model | forward, counted (models.py) | forward, TensorFlow profiler | ratio | backward, counted | "
        "backward, profiler | ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, spec in MODELS.items():
        model = build_model(spec, seed=0)
        dtype = model.inputs[0].dtype if model.inputs else "float32"
        concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(
            tf.TensorSpec([1, *spec.input_shape], dtype)
        )
        frozen = convert_variables_to_constants_v2(concrete)
        options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
        options["output"] = "none"
        profiled = tf.compat.v1.profiler.profile(graph=frozen.graph, options=options).total_float_ops
        counted = spec.forward_flops_per_example

        def forward_backward(x, y):
            with tf.GradientTape() as tape:
                loss = tf.keras.losses.sparse_categorical_crossentropy(
                    y, model(x, training=True), from_logits=True
                )
            return tape.gradient(loss, model.trainable_variables)

        gradients = tf.function(forward_backward).get_concrete_function(
            tf.TensorSpec([1, *spec.input_shape], dtype), tf.TensorSpec([1], tf.int32)
        )
        both = tf.compat.v1.profiler.profile(
            graph=convert_variables_to_constants_v2(gradients).graph, options=options
        ).total_float_ops
        backward, profiled_backward = spec.backward_flops_per_example, both - profiled
        print(
            f"| {name} | {counted:,} | {profiled:,} | {profiled / counted:.3f} "
            f"| {backward:,} | {profiled_backward:,} | "
            f"{profiled_backward / backward:.3f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
