"""Serialized `tf.train.Example` bytes without TensorFlow.

The preprocess job no longer imports TensorFlow: its import was 2.5 s of a 15 s job, and it was
only there to build Examples and frame TFRecords (schemas/tfrecord_writer.py). The messages here
are TensorFlow's own (tensorflow/core/example/{feature,example}.proto: the same package, message
names, field numbers and packing), built from a descriptor written in code, so
`serialize_example` returns exactly the bytes of
`tf.train.Example(...).SerializeToString(deterministic=True)` (tests/schemas/test_example_proto.py).
Deterministic serialization sorts the feature map by key, which keeps shards byte-identical run to
run (docs/design.md, "Data flow").

The classes live in a descriptor pool of this module's own, never the default one, so they cannot
clash with TensorFlow's registration of the same messages when both are loaded in one process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_PACKAGE = "tensorflow"
# Not TensorFlow's file name: the pool is private anyway, and the name says where it comes from.
_FILE_NAME = "aslvid2gloss/schemas/example_proto.proto"

_FieldProto = descriptor_pb2.FieldDescriptorProto


def _list_message(
    file: descriptor_pb2.FileDescriptorProto, name: str, field_type: int, packed: bool
) -> None:
    """`message NAME { repeated TYPE value = 1 [packed = PACKED]; }`."""
    field = file.message_type.add(name=name).field.add(
        name="value", number=1, label=_FieldProto.LABEL_REPEATED, type=field_type
    )
    if packed:
        field.options.packed = True


def _message_field(
    message: descriptor_pb2.DescriptorProto, name: str, number: int, type_name: str
) -> _FieldProto:
    return message.field.add(
        name=name,
        number=number,
        label=_FieldProto.LABEL_OPTIONAL,
        type=_FieldProto.TYPE_MESSAGE,
        type_name=f".{_PACKAGE}.{type_name}",
    )


def _feature_message(file: descriptor_pb2.FileDescriptorProto) -> None:
    """`message Feature { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2;
    Int64List int64_list = 3; } }`."""
    feature = file.message_type.add(name="Feature")
    feature.oneof_decl.add(name="kind")
    for number, (name, type_name) in enumerate(
        [("bytes_list", "BytesList"), ("float_list", "FloatList"), ("int64_list", "Int64List")],
        start=1,
    ):
        _message_field(feature, name, number, type_name).oneof_index = 0


def _features_message(file: descriptor_pb2.FileDescriptorProto) -> None:
    """`message Features { map<string, Feature> feature = 1; }`, spelled as protoc spells a map:
    a repeated nested FeatureEntry{key = 1, value = 2} marked map_entry."""
    features = file.message_type.add(name="Features")
    entry = features.nested_type.add(name="FeatureEntry")
    entry.options.map_entry = True
    entry.field.add(
        name="key", number=1, label=_FieldProto.LABEL_OPTIONAL, type=_FieldProto.TYPE_STRING
    )
    _message_field(entry, "value", 2, "Feature")
    _message_field(
        features, "feature", 1, "Features.FeatureEntry"
    ).label = _FieldProto.LABEL_REPEATED


def _file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    """feature.proto's BytesList, FloatList, Int64List, Feature, Features and example.proto's
    Example, in one proto3 file."""
    file = descriptor_pb2.FileDescriptorProto(name=_FILE_NAME, package=_PACKAGE, syntax="proto3")
    _list_message(file, "BytesList", _FieldProto.TYPE_BYTES, packed=False)
    _list_message(file, "FloatList", _FieldProto.TYPE_FLOAT, packed=True)
    _list_message(file, "Int64List", _FieldProto.TYPE_INT64, packed=True)
    _feature_message(file)
    _features_message(file)
    _message_field(file.message_type.add(name="Example"), "features", 1, "Features")
    return file


def _example_class() -> type:
    """The Example message class, from a pool of this module's own."""
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_file_descriptor())
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.Example"))


_Example = _example_class()


def _check_unique_keys(*mappings: Mapping[str, object]) -> None:
    seen: set[str] = set()
    for mapping in mappings:
        for key in mapping:
            if key in seen:
                raise ValueError(f"feature key {key!r} is given for more than one value kind")
            seen.add(key)


def serialize_example(
    bytes_features: Mapping[str, Sequence[bytes]],
    int_features: Mapping[str, Sequence[int]],
    float_features: Mapping[str, Sequence[float]],
) -> bytes:
    """The bytes of `tf.train.Example(features=tf.train.Features(feature=...))
    .SerializeToString(deterministic=True)` for these features, each a list of values (an empty
    list is still a feature of its kind, as in TensorFlow). Keys must be unique across kinds."""
    _check_unique_keys(bytes_features, int_features, float_features)
    example = _Example()
    example.features.SetInParent()  # present even with no features, as TensorFlow writes it
    feature = example.features.feature
    for key, values in bytes_features.items():
        _fill(feature[key].bytes_list, values)
    for key, values in int_features.items():
        _fill(feature[key].int64_list, values)
    for key, values in float_features.items():
        _fill(feature[key].float_list, values)
    return example.SerializeToString(deterministic=True)


def _fill(value_list, values: Sequence) -> None:
    """Sets the oneof even for no values, as `Feature(bytes_list=BytesList(value=[]))` does."""
    value_list.SetInParent()
    value_list.value.extend(values)
