"""MS-ASL: windows on shared YouTube videos, labels from MSASL_classes.json, every bad input."""

import json
import os
from fractions import Fraction

import pytest

from preprocess.manifests import Clip, ManifestError, read_manifest
from schemas.features import CUT_TIME_WINDOW
from tests.preprocess import dataset_layouts as dl


@pytest.fixture(scope="module")
def msasl(tmp_path_factory):
    return dl.build_msasl(tmp_path_factory.mktemp("msasl"))


def test_reads_every_window_as_a_clip_of_the_shared_video(msasl):
    m = read_manifest(str(msasl.manifest), str(msasl.video_dir))
    assert (m.format, m.glosses) == ("msasl", tuple(dl.MSASL_CLASSES))
    assert [c.clip_id for c in m.clips] == list(msasl.expected)
    video = os.path.join(msasl.video_dir, f"{dl.YT_MSASL}.mp4")
    assert m.clips[1] == Clip(
        clip_id="train_00001",
        path=video,
        gloss="hello",
        label=0,
        split="train",
        fps=Fraction(2997, 100),  # exact, as written
        video_id=dl.YT_MSASL,
        source="youtube",
        signer_id=7,
        cut=CUT_TIME_WINDOW,
        start_time=Fraction(1),
        end_time=Fraction(2002, 1000),
        rel_path=f"{dl.YT_MSASL}.mp4",
        url=f"www.youtube.com/watch?v={dl.YT_MSASL}",  # no scheme, as in the release
    )
    # Two windows with the same video, gloss and signer are two clips.
    assert (m.clips[0].path, m.clips[0].signer_id, m.clips[0].label) == (video, 7, 0)
    assert m.clips[2].start_time == Fraction(5005, 10000)
    assert [c.split for c in m.clips] == ["train"] * 3 + ["val", "test", "test", "test"]


def test_missing_video_names_the_youtube_stem(msasl):
    clip = read_manifest(str(msasl.manifest), str(msasl.video_dir)).clips[-1]
    assert (clip.clip_id, clip.video_id) == ("test_00002", "gone_gone_1")
    assert clip.tried == (os.path.join(msasl.video_dir, "gone_gone_1.*"),)
    assert clip.path == os.path.join(msasl.video_dir, "gone_gone_1.mp4")


def test_top_k_follows_the_classes_file(msasl):
    m = read_manifest(str(msasl.manifest), str(msasl.video_dir), top_k_glosses=2)
    assert m.glosses == ("hello", "nice") and m.format == "msasl"
    assert {c.label for c in m.clips} == {0, 1}


def test_needs_video_dir(msasl):
    with pytest.raises(ManifestError, match="an MS-ASL manifest needs video_dir"):
        read_manifest(str(msasl.manifest))


def entry(**change):
    e = {"url": "https://www.youtube.com/watch?v=abcdefghijk", "start_time": 0.5,
         "end_time": 1.25, "label": 0, "fps": 30, "signer_id": 2}  # fmt: skip
    e.update(change)
    return {k: v for k, v in e.items() if v != "DROP"}


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"url": "https://vimeo.com/123"},
            "field 'url' is 'https://vimeo.com/123', expected a "
            "YouTube url with the video id after 'v=' or 'youtu.be/'",
        ),
        ({"label": 2}, "field 'label' is 2, expected a class index in [0, 1]"),
        (
            {"label": 1.0},
            "field 'label' is 1.0 (a JSON number with a fraction or exponent), "
            "expected a JSON integer",
        ),
        (
            {"start_time": -1},
            "field 'start_time' is -1, expected a number of seconds >= 0 with at most 18 digits",
        ),
        (
            {"end_time": 0.5},
            "field 'end_time' is 0.5 (a JSON number with a fraction or exponent)"
            ", expected a time after start_time (1/2)",
        ),
        ({"end_time": "DROP"}, "field 'end_time' is missing or null"),
        ({"fps": 0}, "field 'fps' is 0, expected a number in (0, 1000] with at most 18 digits"),
        ({"signer_id": "x"}, "field 'signer_id' is 'x', expected a JSON integer"),
    ],
)
def test_bad_entry(tmp_path, change, message):
    (tmp_path / "MSASL_classes.json").write_text('["a", "b"]')
    (tmp_path / "MSASL_train.json").write_text(json.dumps([entry(), entry(**change)]))
    (tmp_path / "v").mkdir()
    with pytest.raises(ManifestError) as e:
        read_manifest(str(tmp_path), str(tmp_path / "v"))
    assert str(e.value) == f"{tmp_path / 'MSASL_train.json'}: entry 1: {message}"


@pytest.mark.parametrize(
    "classes, message",
    [
        ('["a", "a"]', "class 1: field 'name' is 'a', expected each class once (also class 0)"),
        ('["a", ""]', "class 1: field 'name' is '', expected a non-empty gloss"),
        ("{}", "field 'top level' is {} (a JSON object), expected a non-empty JSON list"),
    ],
)
def test_bad_classes(tmp_path, classes, message):
    (tmp_path / "MSASL_classes.json").write_text(classes)
    (tmp_path / "MSASL_train.json").write_text(json.dumps([entry()]))
    (tmp_path / "v").mkdir()
    with pytest.raises(ManifestError) as e:
        read_manifest(str(tmp_path), str(tmp_path / "v"))
    assert str(e.value).startswith(f"{tmp_path / 'MSASL_classes.json'}: {message}")


def test_classes_without_any_split_file(tmp_path):
    (tmp_path / "MSASL_classes.json").write_text('["a"]')
    (tmp_path / "v").mkdir()
    with pytest.raises(ManifestError, match="no MSASL_train.json, MSASL_val.json, MSASL_test"):
        read_manifest(str(tmp_path), str(tmp_path / "v"))
