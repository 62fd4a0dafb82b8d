"""AUTSL: colour videos per split folder, headerless label files, ClassId,TR,EN class list."""

import pytest

from preprocess.manifests import Clip, ManifestError, read_manifest
from schemas.features import CUT_FRAMES
from tests.preprocess import dataset_layouts as dl


@pytest.fixture(scope="module")
def autsl(tmp_path_factory):
    return dl.build_autsl(tmp_path_factory.mktemp("autsl"))


def test_reads_colour_videos_and_ignores_depth(autsl):
    m = read_manifest(str(autsl.manifest))
    assert (m.format, m.glosses) == ("autsl", ("sister", "hurry", "tea"))
    assert [c.clip_id for c in m.clips] == list(autsl.expected)
    assert not any("_depth" in c.path for c in m.clips)
    assert any(name.endswith("_depth.mp4") for name in autsl.videos)  # they are there
    assert m.clips[2] == Clip(
        clip_id="signer5_sample1",
        path=str(autsl.manifest / "val" / "signer5_sample1_color.mp4"),
        gloss="hurry",
        label=1,
        split="val",
        video_id="signer5_sample1",
        signer_id=5,
        cut=CUT_FRAMES,
        rel_path="val/signer5_sample1_color.mp4",
    )
    assert [(c.split, c.label, c.signer_id, c.tried) for c in m.clips] == [
        ("train", 0, 0, ()),
        ("train", 2, 0, ()),
        ("val", 1, 5, ()),
        ("test", 2, 9, ()),
    ]


def write(root, classes="ClassId,TR,EN\n0,abla,sister\n1,acele,hurry\n", **labels):
    root.mkdir(exist_ok=True)
    (root / "SignList_ClassId_TR_EN.csv").write_text(classes, encoding="utf-8")
    for name, text in (labels or {"train": "signer1_sample1,0\n"}).items():
        (root / f"{name}_labels.csv").write_text(text)
    return str(root)


def test_missing_video_and_unlabelled_video(tmp_path, caplog):
    root = write(tmp_path, train="signer1_sample1,1\n")
    dl.write_indexed(tmp_path / "train" / "signer2_sample9_color.mp4", range(3), "30")
    (clip,) = read_manifest(root).clips
    path = str(tmp_path / "train" / "signer1_sample1_color.mp4")
    assert (clip.path, clip.tried, clip.gloss) == (path, (path,), "hurry")
    assert "skipping 1 videos without a row in train_labels.csv" in caplog.text


def test_same_english_name_twice_is_told_apart_by_the_turkish_one(tmp_path):
    classes = "\ufeffClassId,TR,EN\n1,kalem,pen\n0,çay,tea\n2,dolmakalem,pen\n"
    m = read_manifest(write(tmp_path, classes))
    assert m.glosses == ("tea", "pen (kalem)", "pen (dolmakalem)")


@pytest.mark.parametrize(
    "classes, message",
    [
        (
            "ClassId,EN,TR\n0,a,b\n",
            "line 1: header ['ClassId', 'EN', 'TR'], expected 'ClassId,TR,EN'",
        ),
        (
            "ClassId,TR,EN\n0,a,b\n0,c,d\n",
            "line 3: field 'ClassId' is '0', expected a class id given once",
        ),
        ("ClassId,TR,EN\n0,a,b\n2,c,d\n", "ClassId 1 is missing, expected the ids 0 … 1"),
        ("ClassId,TR,EN\nx,a,b\n", "line 2: field 'ClassId' is 'x', expected an integer"),
        ("ClassId,TR,EN\n0,a\n", "line 2: has 2 cells, expected 3"),
    ],
)
def test_bad_class_list(tmp_path, classes, message):
    with pytest.raises(ManifestError) as e:
        read_manifest(write(tmp_path, classes), manifest_format="autsl")
    assert str(e.value).startswith(f"{tmp_path / 'SignList_ClassId_TR_EN.csv'}: {message}")


@pytest.mark.parametrize(
    "text, message",
    [
        ("signer1_sample1\n", "line 1: has 1 cells, expected 2"),
        ("signer1-sample1,0\n", "line 1: field 'sample' is 'signer1-sample1', expected a sample"),
        ("signer1_sample1,2\n", "line 1: field 'ClassId' is '2', expected a class id in [0, 1]"),
        (
            "signer1_sample1,0\nsigner1_sample1,1\n",
            "line 2: field 'sample' is 'signer1_sample1'"
            ", expected a sample once (also train_labels.csv: line 1)",
        ),
    ],
)
def test_bad_labels(tmp_path, text, message):
    with pytest.raises(ManifestError) as e:
        read_manifest(write(tmp_path, train=text))
    assert str(e.value).startswith(f"{tmp_path / 'train_labels.csv'}: {message}"), e.value
