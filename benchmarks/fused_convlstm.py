"""A ConvLSTM2D that does its input convolutions before the time loop and fuses the four gates.

Stock `keras.layers.ConvLSTM2D` runs eight small convolutions per timestep inside its loop (an
input and a recurrent one per gate) and has no cuDNN kernel. This layer keeps the stock layer's
weights (kernel (kh, kw, C, 4F), recurrent_kernel (kh, kw, F, 4F), bias (4F,), gates i, f, c, o)
and computes the same outputs, as:

  * one convolution of all T frames with the whole kernel (4F output channels), before the loop;
  * per timestep, one recurrent convolution with the whole recurrent kernel, then the gates.

With recurrent dropout in training, the four gates see four differently masked copies of the
state (as in the stock cell); they are stacked on the channel axis and go through one grouped
convolution (4 groups), which is the stock cell's four convolutions in one call. The masks come
from another random stream than the stock layer's: outputs are equal whenever dropout is off.

Benchmark code for the GPU proxy (benchmarks.gpu_proxy): Keras ops only, no TensorFlow.
"""

from __future__ import annotations

import keras
from keras import ops


class FusedConvLSTM2D(keras.layers.Layer):
    """Sequences (B, T, H, W, C) → (B, T, H', W', F): `ConvLSTM2D(return_sequences=True)`."""

    def __init__(
        self,
        filters: int,
        kernel_size=(3, 3),
        padding: str = "valid",
        activation="tanh",
        recurrent_activation="sigmoid",
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = tuple(kernel_size)
        self.padding = padding
        self.activation = keras.activations.get(activation)
        self.recurrent_activation = keras.activations.get(recurrent_activation)
        self.recurrent_dropout = recurrent_dropout
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    @classmethod
    def like(cls, stock: keras.layers.ConvLSTM2D) -> "FusedConvLSTM2D":
        """The fused counterpart of a stock layer (same name, settings and weight shapes)."""
        cell = stock.cell
        unsupported = {
            "return_sequences": stock.return_sequences is not True,
            "strides": tuple(cell.strides) != (1, 1),
            "dilation_rate": tuple(cell.dilation_rate) != (1, 1),
            "data_format": cell.data_format != "channels_last",
            "dropout": cell.dropout != 0,
            "use_bias": not cell.use_bias,
            "go_backwards/stateful": stock.go_backwards or stock.stateful,
        }
        bad = [name for name, is_bad in unsupported.items() if is_bad]
        if bad:
            raise ValueError(f"{stock.name}: FusedConvLSTM2D does not support {bad}")
        return cls(
            filters=cell.filters,
            kernel_size=cell.kernel_size,
            padding=cell.padding,
            activation=cell.activation,
            recurrent_activation=cell.recurrent_activation,
            recurrent_dropout=cell.recurrent_dropout,
            name=stock.name,
            dtype=stock.dtype_policy,
        )

    def build(self, input_shape):
        channels = input_shape[-1]
        kh, kw = self.kernel_size
        gates = 4 * self.filters
        # Same names, shapes, order and initializers as the stock cell: set_weights carries over.
        self.kernel = self.add_weight(
            name="kernel", shape=(kh, kw, channels, gates), initializer="glorot_uniform"
        )
        self.recurrent_kernel = self.add_weight(
            name="recurrent_kernel", shape=(kh, kw, self.filters, gates), initializer="orthogonal"
        )
        self.bias = self.add_weight(name="bias", shape=(gates,), initializer="zeros")

    def call(self, sequences, training=False, mask=None):
        del mask  # the clips have no padding frames
        shape = ops.shape(sequences)
        time, height, width, channels = shape[1], shape[2], shape[3], shape[4]
        # All frames of all clips through the input convolution at once: (B*T, H', W', 4F).
        frames = ops.reshape(sequences, (-1, height, width, channels))
        x = ops.conv(frames, self.kernel, padding=self.padding) + self.bias
        out_h, out_w = ops.shape(x)[1], ops.shape(x)[2]
        x = ops.reshape(x, (-1, time, out_h, out_w, 4 * self.filters))
        x = ops.moveaxis(x, 1, 0)  # (T, B, H', W', 4F): scanned over time
        batch = ops.shape(x)[1]
        state = ops.zeros((batch, out_h, out_w, self.filters), dtype=x.dtype)

        masks = None
        if training and 0.0 < self.recurrent_dropout < 1.0:
            # One mask per gate, fixed over the sequence (as the stock cell draws them).
            keep = 1.0 - self.recurrent_dropout
            uniform = keras.random.uniform(
                (batch, out_h, out_w, 4 * self.filters), seed=self.seed_generator
            )
            masks = ops.cast(uniform < keep, x.dtype) / ops.cast(keep, x.dtype)

        def step(carry, x_t):
            h, c = carry
            if masks is None:
                z = x_t + ops.conv(h, self.recurrent_kernel, padding="same")
            else:
                # Four masked copies of h, one per gate: a 4-group convolution.
                stacked = ops.concatenate([h, h, h, h], axis=-1) * masks
                z = x_t + ops.conv(stacked, self.recurrent_kernel, padding="same")
            z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
            c = self.recurrent_activation(z_f) * c + self.recurrent_activation(
                z_i
            ) * self.activation(z_c)
            h = self.recurrent_activation(z_o) * self.activation(c)
            # TensorFlow's scan wants outputs shaped like the carry; JAX's stacks h alone.
            return (h, c), ((h, c) if stack_carry else h)

        stack_carry = keras.backend.backend() == "tensorflow"
        _, outputs = ops.scan(step, (state, state), x)
        return ops.moveaxis(outputs[0] if stack_carry else outputs, 0, 1)

    def compute_output_shape(self, input_shape):
        batch, time, height, width, _ = input_shape
        kh, kw = self.kernel_size
        if self.padding == "valid":
            height = None if height is None else height - kh + 1
            width = None if width is None else width - kw + 1
        return (batch, time, height, width, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            padding=self.padding,
            activation=keras.activations.serialize(self.activation),
            recurrent_activation=keras.activations.serialize(self.recurrent_activation),
            recurrent_dropout=self.recurrent_dropout,
            seed=self.seed,
        )
        return config


def fused_copy(model: keras.Model) -> keras.Model:
    """`model` with every ConvLSTM2D replaced by FusedConvLSTM2D, sharing nothing, same weights."""

    def clone(layer):
        if isinstance(layer, keras.layers.ConvLSTM2D):
            return FusedConvLSTM2D.like(layer)
        return layer.__class__.from_config(layer.get_config())

    fused = keras.models.clone_model(model, clone_function=clone)
    fused.set_weights(model.get_weights())
    return fused
