"""The ConvLSTM2D gloss classifier: four ConvLSTM2D blocks, then a softmax over the glosses."""

from __future__ import annotations

import keras

from schemas import features

# Filters of the four ConvLSTM2D blocks; the network users have trained and compare against.
FILTERS = (4, 8, 14, 16)
DROPOUT = 0.2
RECURRENT_DROPOUT = 0.2


def min_side(size: int) -> int:
    """Side of the last feature map: each block shrinks it by 2 (3x3 'valid'), then halves it."""
    for _ in FILTERS:
        size = (size - 2) // 2
    return size


# The model's input: uint8 clips as the shards hold them. Scaling to [0, 1] is the model's first
# layer (docs/design.md), so training, evaluate, predict and serving feed the same bytes.
INPUT_DTYPE = "uint8"
SCALE = 1.0 / 255.0


def build_model(
    num_classes: int,
    num_frames: int = features.NUM_FRAMES,
    size: int = features.SIZE,
    dropout: float = DROPOUT,
    recurrent_dropout: float = RECURRENT_DROPOUT,
) -> keras.Model:
    """Uncompiled classifier for uint8 clips (num_frames, size, size, 3) in [0, 255].

    A `Rescaling(1/255)` layer scales them: it has no parameters, so the network and its
    parameter count (33,000 + 15,681 per class) are the published ones. It computes in float32
    under any dtype policy, as the float32 input the network was first trained on did.
    `dropout` and `recurrent_dropout` default to the published network; tests set them to 0
    so that one step under several replicas can be compared with one step on one device.
    """
    _check_arguments(num_classes, num_frames, size, dropout, recurrent_dropout)
    inputs = keras.Input(shape=(num_frames, size, size, 3), dtype=INPUT_DTYPE, name="frames")
    x = keras.layers.Rescaling(SCALE, dtype="float32", name="rescale")(inputs)
    return _classifier(inputs, x, num_classes, dropout, recurrent_dropout)


def build_model_v1(
    num_classes: int,
    num_frames: int = features.NUM_FRAMES,
    size: int = features.SIZE,
    dropout: float = DROPOUT,
    recurrent_dropout: float = RECURRENT_DROPOUT,
) -> keras.Model:
    """The network as saved before uint8 input: float32 clips in [0, 1], no Rescaling layer.

    Same layers and weights as `build_model`. Kept to describe (and test) the model.keras files
    of older runs, which `accept_uint8` adapts when they are loaded.
    """
    _check_arguments(num_classes, num_frames, size, dropout, recurrent_dropout)
    inputs = keras.Input(shape=(num_frames, size, size, 3), name="frames")
    return _classifier(inputs, inputs, num_classes, dropout, recurrent_dropout)


def takes_uint8(model: keras.Model) -> bool:
    """True for models that scale uint8 clips themselves (`build_model`)."""
    return (
        len(model.inputs) == 1
        and keras.backend.standardize_dtype(model.inputs[0].dtype) == INPUT_DTYPE
    )


def accept_uint8(model: keras.Model) -> keras.Model:
    """`model` if it takes uint8 clips; an older float-input model behind the same Rescaling.

    The wrapper shares the old model's weights and computes exactly what the old float path
    computed (uint8 → float32 × 1/255 → network), so every caller feeds uint8 alike.
    """
    if takes_uint8(model):
        return model
    if len(model.inputs) != 1 or len(model.input_shape) != 5:
        raise ValueError(
            f"expected a clip classifier with one (N, T, S, S, 3) input, got {model.input_shape}"
        )
    inputs = keras.Input(shape=model.input_shape[1:], dtype=INPUT_DTYPE, name="frames")
    x = keras.layers.Rescaling(SCALE, dtype="float32", name="rescale")(inputs)
    return keras.Model(inputs, model(x), name=model.name)


def _check_arguments(num_classes, num_frames, size, dropout, recurrent_dropout) -> None:
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


def _classifier(inputs, x, num_classes, dropout, recurrent_dropout) -> keras.Model:
    """Four ConvLSTM2D blocks on float clips `x` in [0, 1], then the softmax."""
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
