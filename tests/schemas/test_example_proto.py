"""schemas.example_proto writes exactly tf.train.Example's deterministic bytes, and importing it
never loads TensorFlow (schemas/example_proto.py says why both matter)."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import tensorflow as tf

from schemas import example_proto
from tests.tf_free import loads_tensorflow

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Keys whose order differs by code point, by UTF-8 byte and by case, prefixes of each other, and
# characters outside the BMP: the map must come out sorted as TensorFlow sorts it.
_KEY_PARTS = ["a", "B", "b", "_", "0", "9", " ", "é", "Ω", "日本", "😀", "\x7f", "z", "A"]
_INT_EDGES = [0, 1, -1, 2**63 - 1, -(2**63), 2**31, -(2**31) - 1, 127, 128, -128]
_FLOAT_EDGES = [
    -1.0,
    0.0,
    -0.0,
    math.nan,
    math.inf,
    -math.inf,
    1e-45,  # the smallest float32 subnormal
    1e-40,  # a float32 subnormal
    1.17549435e-38,  # the smallest float32 normal
    3.4028234e38,  # the largest float32
    5e-324,  # a float64 subnormal: 0 as a float32
    0.1,
]


def _tf_bytes(bytes_features, int_features, float_features) -> bytes:
    """The project's former route: tf.train messages, serialized with map keys sorted."""
    feature = {}
    for key, values in bytes_features.items():
        feature[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
    for key, values in int_features.items():
        feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=values))
    for key, values in float_features.items():
        feature[key] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return example.SerializeToString(deterministic=True)


def _key(rng: np.random.Generator) -> str:
    return "".join(rng.choice(_KEY_PARTS, size=int(rng.integers(0, 5))))


def _ints(rng: np.random.Generator) -> list[int]:
    n = int(rng.integers(0, 6))
    return [
        int(rng.choice(_INT_EDGES))
        if rng.random() < 0.5
        else int(rng.integers(-(2**63), 2**63 - 1))
        for _ in range(n)
    ]


def _floats(rng: np.random.Generator) -> list[float]:
    n = int(rng.integers(0, 6))
    return [
        float(rng.choice(_FLOAT_EDGES)) if rng.random() < 0.5 else float(rng.normal(0, 1e6))
        for _ in range(n)
    ]


def _bytes(rng: np.random.Generator) -> list[bytes]:
    n = int(rng.integers(0, 4))
    sizes = rng.choice([0, 1, 7, 300, 200_000], size=n, p=[0.2, 0.3, 0.25, 0.2, 0.05])
    return [rng.bytes(int(size)) for size in sizes]


def _features(rng: np.random.Generator) -> tuple[dict, dict, dict]:
    """Random features of the three kinds, keys unique across kinds (the empty key included)."""
    keys = list(dict.fromkeys(_key(rng) for _ in range(int(rng.integers(0, 12)))))
    kinds: tuple[dict, dict, dict] = ({}, {}, {})
    for key in keys:
        kind = int(rng.integers(0, 3))
        kinds[kind][key] = (_bytes, _ints, _floats)[kind](rng)
    return kinds


@pytest.mark.parametrize("seed", range(8))
def test_same_bytes_as_tensorflow(seed):
    rng = np.random.default_rng(seed)
    for _ in range(40):
        features = _features(rng)
        assert example_proto.serialize_example(*features) == _tf_bytes(*features), features


def test_empty_lists_and_no_features_are_tensorflows_bytes():
    """An empty list still names its kind on the wire; TensorFlow writes it so, and so must we."""
    for features in [({}, {}, {}), ({"b": []}, {"i": []}, {"f": []}), ({"": [b""]}, {}, {})]:
        assert example_proto.serialize_example(*features) == _tf_bytes(*features)


def test_tensorflow_parses_the_values_back():
    rng = np.random.default_rng(100)
    for _ in range(10):
        bytes_features, int_features, float_features = _features(rng)
        spec = {k: tf.io.VarLenFeature(tf.string) for k in bytes_features}
        spec.update({k: tf.io.VarLenFeature(tf.int64) for k in int_features})
        spec.update({k: tf.io.VarLenFeature(tf.float32) for k in float_features})
        if not spec:
            continue  # parse_single_example refuses an empty spec
        serialized = example_proto.serialize_example(bytes_features, int_features, float_features)
        parsed = tf.io.parse_single_example(serialized, spec)
        for key, values in bytes_features.items():
            assert parsed[key].values.numpy().tolist() == values
        for key, values in int_features.items():
            assert parsed[key].values.numpy().tolist() == values
        for key, values in float_features.items():
            expected = np.array(values, np.float32)
            np.testing.assert_array_equal(parsed[key].values.numpy(), expected)


def test_a_key_given_for_two_kinds_is_refused():
    """A map holds one Feature per key: the second kind would silently replace the first."""
    with pytest.raises(ValueError, match="'label'"):
        example_proto.serialize_example({"label": [b"x"]}, {"label": [1]}, {})
    with pytest.raises(ValueError, match="'fps'"):
        example_proto.serialize_example({}, {"fps": [30]}, {"fps": [29.97]})


def test_importing_it_imports_no_tensorflow():
    """The preprocess job builds its Examples with this module so that it never loads TF."""
    code = (
        "from schemas import example_proto\n"
        "example_proto.serialize_example({'a': [b'x']}, {'b': [1]}, {'c': [1.0]})\n"
    )
    assert not loads_tensorflow(code)
