"""The ConvLSTM2D gloss classifier: four ConvLSTM2D blocks, then a softmax over the glosses."""

from __future__ import annotations

import keras

# Filters of the four ConvLSTM2D blocks; the network users have trained and compare against.
FILTERS = (4, 8, 14, 16)
DROPOUT = 0.2
RECURRENT_DROPOUT = 0.2
LEARNING_RATE = 1e-3


def min_side(size: int) -> int:
    """Side of the last feature map: each block shrinks it by 2 (3x3 'valid'), then halves it."""
    for _ in FILTERS:
        size = (size - 2) // 2
    return size


def build_model(
    num_classes: int,
    num_frames: int = 20,
    size: int = 150,
    dropout: float = DROPOUT,
    recurrent_dropout: float = RECURRENT_DROPOUT,
) -> keras.Model:
    """Uncompiled classifier for clips (num_frames, size, size, 3) float32 in [0, 1].

    `dropout` and `recurrent_dropout` default to the published network; tests set them to 0
    so that one step under several replicas can be compared with one step on one device.
    """
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    if not isinstance(num_frames, int) or num_frames < 1:
        raise ValueError(f"num_frames must be a positive integer, got {num_frames!r}")
    if not isinstance(size, int) or min_side(size) < 1:
        raise ValueError(
            f"size must be an integer of at least 46 so that four conv+pool blocks leave "
            f"a 1x1 map, got {size!r}"
        )
    for name, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {rate!r}")

    inputs = keras.Input(shape=(num_frames, size, size, 3), name="frames")
    x = inputs
    for block, filters in enumerate(FILTERS, start=1):
        x = keras.layers.ConvLSTM2D(
            filters=filters,
            kernel_size=(3, 3),
            activation="tanh",
            recurrent_dropout=recurrent_dropout,
            return_sequences=True,
            data_format="channels_last",
            name=f"conv_lstm_{block}",
        )(x)
        x = keras.layers.MaxPooling3D(
            pool_size=(1, 2, 2), padding="valid", data_format="channels_last", name=f"pool_{block}"
        )(x)
        if block < len(FILTERS):
            x = keras.layers.TimeDistributed(
                keras.layers.Dropout(dropout), name=f"dropout_{block}"
            )(x)
    x = keras.layers.Flatten(name="flatten")(x)
    # float32 softmax even under a mixed-precision policy: float16 probabilities underflow.
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="probs")(
        x
    )
    return keras.Model(inputs, outputs, name="convlstm_gloss_classifier")


def compile_model(
    model: keras.Model, learning_rate: float = LEARNING_RATE, jit_compile: bool = False
) -> keras.Model:
    """Adam + sparse categorical cross-entropy + accuracy, as the original was trained."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=jit_compile,
    )
    return model
