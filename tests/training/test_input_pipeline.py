"""Input pipeline on real shards: parsing, label checks, batching, shuffling, sharding."""

import numpy as np
import pytest
import tensorflow as tf

from tests.training.shards import write_shards
from training import input_pipeline as ip
from training import shard_source as ss


def test_preprocess_frames_keeps_uint8_and_refuses_float_eagerly_and_inside_tf_data():
    """The model scales uint8 itself: frames pass unchanged, float frames would be scaled twice."""
    frames = np.array([[[[0, 128, 255]]]], dtype=np.uint8)
    eager = ip.preprocess_frames(frames).numpy()
    np.testing.assert_array_equal(eager, frames)
    assert eager.dtype == np.uint8
    in_data = next(iter(tf.data.Dataset.from_tensors(frames).map(ip.preprocess_frames))).numpy()
    np.testing.assert_array_equal(in_data, eager)
    with pytest.raises(ValueError, match="uint8"):
        ip.preprocess_frames(frames.astype(np.float32) / 255)


def test_later_label_out_of_range_names_the_shard(tmp_path):
    write_shards(str(tmp_path), num_examples=4, num_labels=3, labels=[0, 1, 7, 2], num_shards=1)
    source = ss.open_source(f"{tmp_path}/train-*")
    ss.check_shards(source)  # only the first record is checked up front
    data = ip.make_dataset(source.files, source.info, batch_size=4, training=False)
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        list(data)
    message = ip.label_error_message(error.value)
    assert message == (
        f"{source.files[0]}: label outside the vocabulary, label 7 not in [0, 3) of labels.txt"
    )


def test_training_batches_shapes_values_and_drop_remainder(data_dir):
    source = ss.open_source(f"{data_dir}/train-*")
    data = ip.make_dataset(source.files, source.info, batch_size=5, training=True, seed=1)
    assert data.element_spec == ip.batch_spec(source.info, 5)
    frames, labels = next(iter(data))
    # uint8 into the model, which scales the frames itself (training.model).
    assert frames.dtype == tf.uint8 and frames.shape == (5, 4, 48, 48, 3)
    # The clips' brightness encodes the label (tests/training/shards.py); parsing kept the pairing.
    brightness = frames.numpy().mean(axis=(1, 2, 3, 4)) / 255
    np.testing.assert_allclose(brightness, (labels.numpy() + 1) / 4, atol=0.03)
    # Repeated forever: 24 examples still give 10 batches of 5.
    assert len(list(data.take(10))) == 10


def test_evaluation_keeps_every_record_once_in_order(data_dir):
    source = ss.open_source(f"{data_dir}/train-*")
    data = ip.make_dataset(source.files, source.info, batch_size=5, training=False)
    sizes = [int(y.shape[0]) for _, y in data]
    assert sizes == [5, 5, 5, 5, 4]
    labels = np.concatenate([y.numpy() for _, y in data])
    # Shards are written round-robin and read interleaved: the original order comes back.
    np.testing.assert_array_equal(labels, [i % 3 for i in range(24)])


def _first_epochs(data, epochs, per_epoch):
    labels = np.concatenate([y.numpy() for _, y in data.take(epochs * per_epoch)])
    return labels.reshape(epochs, -1)


def test_shuffle_is_seeded_and_reshuffled_every_epoch(data_dir):
    source = ss.open_source(f"{data_dir}/train-*")

    def order(seed):
        data = ip.make_dataset(source.files, source.info, 1, True, shuffle_buffer=64, seed=seed)
        ids = [int(tf.reduce_sum(tf.cast(x, tf.int64))) for x, _ in data.take(48)]
        return np.array(ids).reshape(2, 24)

    a, b, c = order(1), order(1), order(2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a[0], a[1])  # epoch 2 is another permutation...
    np.testing.assert_array_equal(np.sort(a[0]), np.sort(a[1]))  # ...of the same clips
    assert not np.array_equal(a, c)


def test_every_iterator_of_a_seeded_dataset_sees_the_same_epochs(data_dir):
    """Keras may open more than one iterator of the training data. With
    shuffle(reshuffle_each_iteration=True) each new iterator drew the next seeds of a generator
    they all share, so which order a run trained on depended on thread timing (same --seed,
    different first-epoch losses under load). Orders are now a function of (seed, epoch)."""
    source = ss.open_source(f"{data_dir}/train-*")
    data = ip.make_dataset(source.files, source.info, 1, True, shuffle_buffer=64, seed=3)

    def ids(iterator, n=48):
        return [int(tf.reduce_sum(tf.cast(next(iterator)[0], tf.int64))) for _ in range(n)]

    first, second = iter(data), iter(data)
    second_ids = ids(second)  # the later iterator read first
    first_ids = ids(first)
    assert first_ids == second_ids
    assert first_ids[:24] != first_ids[24:]  # still a new permutation every epoch
    assert sorted(first_ids[:24]) == sorted(first_ids[24:])


def test_gzip_shards_and_cache(tmp_path):
    write_shards(str(tmp_path), num_examples=6, compression="GZIP", num_shards=2)
    source = ss.open_source(f"{tmp_path}/train-*")
    assert source.files[0].endswith(".tfrecord.gz") and source.num_examples == 6
    ss.check_shards(source)
    data = ip.make_dataset(source.files, source.info, 3, False, cache="memory")
    assert [int(y.shape[0]) for _, y in data] == [3, 3]


@pytest.mark.parametrize("num_files", [2, 1])
def test_input_pipelines_split_the_records_without_overlap(tmp_path, num_files):
    write_shards(str(tmp_path), num_examples=8, num_shards=num_files)
    source = ss.open_source(f"{tmp_path}/train-*")
    seen = []
    for pipeline in range(2):
        context = tf.distribute.InputContext(2, pipeline, 1)
        data = ip.make_dataset(source.files, source.info, 1, False, input_context=context)
        seen.append(sorted(int(tf.reduce_sum(tf.cast(x, tf.int64))) for x, _ in data))
    assert len(seen[0]) == len(seen[1]) == 4
    assert sorted(seen[0] + seen[1]) == sorted(set(seen[0] + seen[1]))
