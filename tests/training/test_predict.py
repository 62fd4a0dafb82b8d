"""Predict from a video gives what the model gives on the same clip read back from its shard."""

import dataclasses
import fractions
import os
import subprocess

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from preprocess import cli, manifests
from preprocess.synthetic import SyntheticConfig, make_dataset
from schemas import features
from schemas.dataset_info import read_dataset_info
from tests.training.conftest import PYTHON, REPO, subprocess_env
from training import input_pipeline, predict, run_folder
from training.model import build_model

NUM_FRAMES = 4
SIZE = 48


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A synthetic WLASL-format dataset, its real preprocess output, and a run folder on it."""
    root = tmp_path_factory.mktemp("predict")
    manifest = make_dataset(
        str(root / "data"), SyntheticConfig(num_classes=3, clips_per_class=4, width=48, height=48)
    )
    video_dir = str(root / "data" / "videos")
    records = str(root / "records")
    cli.run(
        [
            f"--manifest={manifest}",
            f"--video_dir={video_dir}",
            f"--output_dir={records}",
            f"--num_frames={NUM_FRAMES}",
            f"--size={SIZE}",
            "--direct_running_mode=in_memory",
            "--direct_num_workers=1",
        ]
    )
    info = read_dataset_info(records)
    # An untrained model is enough: predict must reproduce its output, not a good answer. Fresh
    # weights give nearly uniform probabilities whatever the clip, so the softmax layer's weights
    # are scaled up until different clips land far apart (checked below): a 1e-5 tolerance then
    # tells same frames from different ones.
    tf.keras.utils.set_random_seed(0)
    model = build_model(info.num_labels, NUM_FRAMES, SIZE)
    dense = model.layers[-1]
    kernel, bias = dense.get_weights()
    dense.set_weights([kernel * 300.0, bias])
    run = str(root / "run")
    run_folder.copy_dataset_files(records, run)
    model.save(os.path.join(run, run_folder.MODEL_KERAS))
    model, labels, info = run_folder.load_run(run)
    clips = {c.video_id: c for c in manifests.read_manifest(manifest, video_dir).clips}
    return {
        "run": run,
        "records": records,
        "model": model,
        "labels": labels,
        "info": info,
        "clips": clips,
    }


def shard_clips(records: str, info):
    """{video_id: (frame_indices, frames the trainer's eval pipeline yields)} for every record."""
    out = {}
    for shard in sorted(tf.io.gfile.glob(os.path.join(records, "*.tfrecord"))):
        meta = tf.data.TFRecordDataset(shard).map(lambda r: info.clip.parse(r, float_frames=False))
        # The evaluation pipeline keeps file order, so it lines up with the raw records.
        batches = input_pipeline.make_dataset([shard], info, batch_size=1, training=False)
        for parsed, (frames, _) in zip(meta, batches):
            video_id = parsed[features.VIDEO_ID].numpy().decode()
            out[video_id] = (tuple(parsed[features.FRAME_INDICES].numpy().tolist()), frames)
    return out


def test_video_and_shard_give_the_same_probabilities(world):
    model, info = world["model"], world["info"]
    from_shards = shard_clips(world["records"], info)
    assert set(from_shards) == set(world["clips"])
    ranged = [c for c in world["clips"].values() if c.frame_end != -1]
    whole = [c for c in world["clips"].values() if c.frame_end == -1]
    assert ranged and whole  # both kinds of clip are covered
    all_probs = []
    for clip in ranged[:2] + whole[:2]:
        prediction = predict.predict_video(
            model,
            world["labels"],
            info,
            clip.path,
            frame_start=clip.frame_start,
            frame_end=clip.frame_end,
            fps=clip.fps,
            k=2,
        )
        indices, frames = from_shards[clip.video_id]
        assert prediction.frame_indices == indices, clip.video_id
        expected = model(frames, training=False).numpy()[0]
        np.testing.assert_allclose(prediction.probabilities, expected, rtol=0, atol=1e-5)
        assert prediction.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
        best = np.argsort(-expected, kind="stable")[:2]
        assert prediction.top_k == [
            (world["labels"][i], pytest.approx(float(expected[i]))) for i in best
        ]
        all_probs.append(prediction.probabilities)
    # The tolerance means something only if other clips land farther apart than it.
    spread = np.ptp(np.stack(all_probs), axis=0).max()
    assert spread > 1e-3


def test_frame_range_matters(world):
    """Without its frame range, a clip cut from a longer video samples other frames."""
    clip = next(c for c in world["clips"].values() if c.frame_end != -1)
    frames, decoded = predict.decode_for_model(clip.path, world["info"], fps=clip.fps)
    ranged, ranged_decoded = predict.decode_for_model(
        clip.path,
        world["info"],
        frame_start=clip.frame_start,
        frame_end=clip.frame_end,
        fps=clip.fps,
    )
    assert frames.dtype == tf.uint8 and frames.shape == (NUM_FRAMES, SIZE, SIZE, 3)
    assert decoded.frame_indices[0] == 0
    assert ranged_decoded.frame_indices[0] == clip.frame_start - 1
    assert decoded.frame_indices != ranged_decoded.frame_indices


def test_round_trip_is_the_shards_encoding(world):
    """Without the JPEG round trip the model would see other pixels, beyond the tolerance."""
    clip = next(iter(world["clips"].values()))
    frames, decoded = predict.decode_for_model(clip.path, world["info"], fps=clip.fps)
    assert frames.dtype == tf.uint8 and frames.shape == decoded.frames.shape
    assert not np.array_equal(frames.numpy(), decoded.frames)
    with_jpeg = predict.probabilities(world["model"], frames)
    without = predict.probabilities(world["model"], tf.constant(decoded.frames))
    assert np.abs(with_jpeg - without).max() > 1e-5
    raw_schema = features.ClipSchema(NUM_FRAMES, SIZE, "raw")
    np.testing.assert_array_equal(predict.round_trip(decoded.frames, raw_schema), decoded.frames)


def test_top_k():
    probs = np.array([0.1, 0.5, 0.1, 0.3], np.float32)
    labels = ["a", "b", "c", "d"]
    assert predict.top_k(probs, labels, 3) == [
        ("b", pytest.approx(0.5)),
        ("d", pytest.approx(0.3)),
        ("a", pytest.approx(0.1)),
    ]
    assert [g for g, _ in predict.top_k(probs, labels, 10)] == ["b", "d", "a", "c"]
    with pytest.raises(ValueError, match="top_k"):
        predict.top_k(probs, labels, 0)


def test_preprocess_flag_reads_the_recorded_command_line(world):
    info = world["info"]
    assert predict.preprocess_flag(info, "size") == str(SIZE)
    assert predict.preprocess_flag(info, "decoder") is None
    info = dataclasses.replace(
        info, command_line=["python -m preprocess", "--decoder", "decord", "--crop=bbox"]
    )
    assert predict.preprocess_flag(info, "decoder") == "decord"
    assert predict.preprocess_flag(info, "crop") == "bbox"


def test_decoder_and_crop_come_from_dataset_json(world):
    """preprocess records them; the command line is read only for folders from before that."""
    info = world["info"]
    assert (info.decoder, info.crop) == ("pyav", "none")  # written by the real run
    recorded = dataclasses.replace(
        info, decoder="decord", crop="bbox", command_line=["--decoder=pyav", "--crop=none"]
    )
    assert predict.recorded_decoder(recorded) == "decord"
    assert predict.recorded_crop(recorded) == "bbox"
    older = dataclasses.replace(
        info, decoder="", crop="", command_line=["python -m preprocess", "--decoder=decord"]
    )
    assert predict.recorded_decoder(older) == "decord"
    assert predict.recorded_crop(older) == "none"
    older = dataclasses.replace(older, command_line=["--crop", "bbox"])
    assert (predict.recorded_decoder(older), predict.recorded_crop(older)) == ("pyav", "bbox")


@pytest.mark.parametrize(
    "flag, message",
    [
        ("--fps=fast", "--fps"),
        ("--fps=-25", "--fps"),
        ("--crop_bbox=1,2,3", "--crop_bbox"),
        ("--crop_bbox=10,0,5,8", "--crop_bbox"),
        ("--top_k=0", "--top_k"),
        ("--frame_start=0", "--frame_start"),
        ("--frame_end=-2", "--frame_end"),
        ("--decoder=ffmpeg", "--decoder"),
    ],
)
def test_bad_flags_name_the_flag(flag, message):
    fv = flags.FlagValues()
    predict.define_flags(fv)
    with pytest.raises(flags.Error, match=message):
        fv(["predict", "--model_dir=RUN", "--video=v.mp4", flag])


@pytest.mark.parametrize("text", ["1e3", "-25", "25/0", "2000", "fast", "٢٥", "0"])
def test_fps_flag_and_csv_fps_cells_refuse_the_same_rates(text):
    """predict's --fps reproduces a CSV manifest's clip only if both read rates alike."""
    from preprocess.manifests import ManifestError, validation

    with pytest.raises(ValueError, match="expected a frame rate"):
        predict.parse_fps(text)
    with pytest.raises(ManifestError, match="fps"):
        validation.fps_cell("m.csv", "row 2", text)
    for good in ("25", " 29.97 ", "30000/1001"):
        assert predict.parse_fps(good) == validation.fps_cell("m.csv", "row 2", good)


def test_frame_range_flags_and_aliases():
    fv = flags.FlagValues()
    predict.define_flags(fv)
    with pytest.raises(flags.Error, match="--frame_end"):
        fv(["predict", "--model_dir=RUN", "--video=v.mp4", "--frame_start=9", "--frame_end=3"])
    fv = flags.FlagValues()
    predict.define_flags(fv)
    fv(["predict", "--model=RUN", "--video=v.mp4", "--fps=30000/1001", "--crop_bbox=0,0,40,30"])
    assert fv.model_dir == "RUN"
    assert predict.parse_fps(fv.fps) == fractions.Fraction(30000, 1001)
    assert predict.parse_crop(fv.crop_bbox) == (0.0, 0.0, 40.0, 30.0)


def run_cli(*args):
    return subprocess.run(
        [PYTHON, "-m", "training.predict", *args],
        cwd=REPO,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_cli_prints_top_k(world):
    clip = next(c for c in world["clips"].values() if c.frame_end != -1)
    result = run_cli(
        f"--model_dir={world['run']}",
        f"--video={clip.path}",
        f"--frame_start={clip.frame_start}",
        f"--frame_end={clip.frame_end}",
        f"--fps={clip.fps}",
        "--top_k=2",
    )
    assert result.returncode == 0, result.stderr
    expected = predict.predict_video(
        world["model"],
        world["labels"],
        world["info"],
        clip.path,
        frame_start=clip.frame_start,
        frame_end=clip.frame_end,
        fps=clip.fps,
        k=2,
    )
    indices = " ".join(str(i) for i in expected.frame_indices)
    lines = result.stdout.strip().splitlines()
    assert lines[-4:] == [
        f"video: {clip.path}",
        f"frames: {NUM_FRAMES} sampled of {expected.num_source_frames} decoded, indices {indices}",
        f"1. {expected.top_k[0][1]:.4f}  {expected.top_k[0][0]}",
        f"2. {expected.top_k[1][1]:.4f}  {expected.top_k[1][0]}",
    ]


@pytest.mark.slow
def test_cli_broken_video_fails_cleanly(world, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"this is not a video, it is a download that went wrong\n" * 20)
    result = run_cli(f"--model_dir={world['run']}", f"--video={broken}")
    assert result.returncode == 1
    assert f"cannot decode {broken}: not_a_video" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
