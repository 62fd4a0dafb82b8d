"""ASL Citizen: splits/*.csv + videos/, labels by first appearance in train.csv."""

import os

import pytest

from preprocess.manifests import Clip, ManifestError, read_manifest
from schemas.features import CUT_FRAMES
from tests.preprocess import dataset_layouts as dl

HEADER = "Participant ID,Video file,Gloss,ASL-LEX Code\n"


@pytest.fixture(scope="module")
def citizen(tmp_path_factory):
    return dl.build_asl_citizen(tmp_path_factory.mktemp("asl_citizen"))


def test_reads_the_release_with_only_manifest(citizen):
    m = read_manifest(str(citizen.manifest))
    assert m.format == "asl_citizen"
    # train.csv first appearance, then the gloss only test.csv has.
    assert m.glosses == ("HELLO", "GO/LEAVE", "THANKYOU")
    assert [c.clip_id for c in m.clips] == list(citizen.expected)
    videos = citizen.manifest / "videos"
    assert m.clips[1] == Clip(
        clip_id="12 seed GO_LEAVE.mp4",
        path=str(videos / "12 seed GO_LEAVE.mp4"),
        gloss="GO/LEAVE",
        label=1,
        split="train",
        video_id="12 seed GO_LEAVE",
        signer_id=12,
        cut=CUT_FRAMES,
        rel_path="12 seed GO_LEAVE.mp4",
    )
    assert [(c.split, c.label, c.signer_id) for c in m.clips] == [
        ("train", 0, 1),
        ("train", 1, 12),
        ("val", 0, 3),
        ("test", 2, 4),
    ]
    assert all(c.tried == () and (c.frame_start, c.frame_end) == (1, -1) for c in m.clips)


def test_video_dir_overrides_and_missing_videos_are_named(citizen, tmp_path):
    m = read_manifest(str(citizen.manifest), str(tmp_path))
    assert m.clips[0].path == str(tmp_path / "11-HELLO.mp4")
    assert m.clips[0].tried == (str(tmp_path / "11-HELLO.mp4"),)


def write(root, train, **others):
    (root / "splits").mkdir(parents=True)
    (root / "videos").mkdir()
    for split, text in dict(train=train, **others).items():
        (root / "splits" / f"{split}.csv").write_text(text, encoding="utf-8")
    return str(root)


def test_glosses_are_stripped_as_microsofts_reader_does(tmp_path):
    val = HEADER + "P2,b.mp4,THINKCHIN,X\n"
    root = write(tmp_path, HEADER + "P1,a.mp4,THINKCHIN ,X\n", val=val)
    m = read_manifest(root)
    assert m.glosses == ("THINKCHIN",) and [c.label for c in m.clips] == [0, 0]


@pytest.mark.parametrize(
    "train, message",
    [
        (
            "Participant,Video file,Gloss,ASL-LEX Code\nP1,a.mp4,A,X\n",
            "line 1: header ['Participant', 'Video file', 'Gloss', 'ASL-LEX Code'], expected "
            "'Participant ID,Video file,Gloss,ASL-LEX Code'",
        ),
        (HEADER + "P1,a.mp4,A\n", "line 2: has 3 cells, expected 4"),
        (
            HEADER + "Q7,a.mp4,A,X\n",
            "line 2: field 'Participant ID' is 'Q7', expected a participant id like 'P12'",
        ),
        (HEADER + "P1,,A,X\n", "line 2: field 'Video file' is '', expected a file name"),
        (HEADER + "P1,a.mp4, ,X\n", "line 2: field 'Gloss' is '', expected a non-empty gloss"),
        (
            HEADER + "P1,a.mp4,A,X\nP2,a.mp4,B,X\n",
            "line 3: field 'Video file' is 'a.mp4', "
            "expected a file used once (also train.csv: line 2)",
        ),
        ("", "empty file"),
    ],
)
def test_bad_train_csv(tmp_path, train, message):
    root = write(tmp_path, train)
    with pytest.raises(ManifestError) as e:
        read_manifest(root)
    assert str(e.value).startswith(f"{tmp_path / 'splits' / 'train.csv'}: {message}"), e.value


def test_train_csv_is_required(tmp_path):
    write(tmp_path, HEADER + "P1,a.mp4,A,X\n")
    os.remove(tmp_path / "splits" / "train.csv")
    (tmp_path / "splits" / "val.csv").write_text(HEADER + "P1,a.mp4,A,X\n")
    with pytest.raises(ManifestError, match="no splits/train.csv"):
        read_manifest(str(tmp_path))
