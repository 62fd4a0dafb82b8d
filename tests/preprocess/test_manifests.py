"""Manifest readers: WLASL JSON, CSV and folder layouts, selection, and every bad input."""

import csv
import fractions
import json
import os
import re
import tempfile
import unicodedata

import hypothesis
import pytest
from hypothesis import strategies as st

from preprocess import manifests
from preprocess.manifests import Clip, ManifestError, read_manifest


# ------------------------------------------------------------------------- helpers
def touch(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "wb").close()
    return path


def instance(video_id, split="train", frame_start=1, frame_end=-1, **extra):
    inst = {
        "video_id": video_id,
        "split": split,
        "frame_start": frame_start,
        "frame_end": frame_end,
        "fps": 25,
        "signer_id": 3,
        "instance_id": None,
        "source": "aslu",
        "bbox": [10, 20, 110, 220],
        "url": "https://example.com/v.mp4",
        "variation_id": 0,
    }
    inst.update(extra)
    return inst


def write_json(tmp_path, data, name="WLASL_v0.3.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


def wlasl(tmp_path, data):
    """Writes a WLASL JSON and an empty videos/ folder; returns (json path, video_dir)."""
    video_dir = tmp_path / "videos"
    video_dir.mkdir(exist_ok=True)
    return write_json(tmp_path, data), str(video_dir)


def wlasl_error(tmp_path, data):
    path, video_dir = wlasl(tmp_path, data)
    with pytest.raises(ManifestError) as e:
        read_manifest(path, video_dir)
    return str(e.value)


def write_csv(tmp_path, text, name="clips.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return str(path)


def csv_error(tmp_path, text):
    with pytest.raises(ManifestError) as e:
        read_manifest(write_csv(tmp_path, text))
    return str(e.value)


GOOD_WLASL = [
    {
        "gloss": "book",
        "instances": [
            instance("00335", "train", 1, -1, instance_id=0),
            instance("00336", "val", 12, 40, instance_id=1, fps=29.97),
        ],
    },
    {"gloss": "drink", "instances": [instance("69302", "test", instance_id=0, bbox=None)]},
    {"gloss": "computer", "instances": [instance("12", "train", instance_id=0)]},
]


# ------------------------------------------------------------------------- WLASL JSON
def test_wlasl_reads_every_field_and_finds_files_by_stem(tmp_path):
    path, video_dir = wlasl(tmp_path, GOOD_WLASL)
    touch(f"{video_dir}/00335.mp4")
    touch(f"{video_dir}/00336.MKV")  # any video extension, compared in lower case
    touch(f"{video_dir}/69302.swf")
    touch(f"{video_dir}/notes.txt")
    m = read_manifest(path, video_dir)
    assert m.glosses == ("book", "drink", "computer")
    assert [c.clip_id for c in m.clips] == ["00335", "00336", "69302", "12"]
    assert m.clips[0] == Clip(
        clip_id="00335",
        path=os.path.join(video_dir, "00335.mp4"),
        gloss="book",
        label=0,
        split="train",
        frame_start=1,
        frame_end=-1,
        fps=fractions.Fraction(25),
        video_id="00335",
        source="aslu",
        instance_id=0,
        signer_id=3,
        bbox=(10, 20, 110, 220),
        rel_path="00335.mp4",
        layout="processed",
        url="https://example.com/v.mp4",
    )
    second = m.clips[1]
    assert (second.path, second.split, second.frame_start, second.frame_end) == (
        os.path.join(video_dir, "00336.MKV"),
        "val",
        12,
        40,
    )
    assert second.fps == fractions.Fraction(2997, 100)  # exact, not a binary float
    assert (m.clips[2].label, m.clips[2].bbox, m.clips[2].path) == (
        1,
        None,
        os.path.join(video_dir, "69302.swf"),
    )
    # No file for video 12: not fatal here, the pipeline reports it as missing_file.
    assert m.clips[3].path == os.path.join(video_dir, "12.mp4")
    assert m.clips[3].tried == (os.path.join(video_dir, "12.*"),)
    assert m.clips[3].label == 2


def test_wlasl_prefers_mp4_then_extension_order_when_stems_collide(tmp_path):
    data = [{"gloss": "a", "instances": [instance("v1"), instance("v2")]}]
    path, video_dir = wlasl(tmp_path, data)
    for name in ("v1.webm", "v1.mp4", "v1.avi", "v2.flv", "v2.mov", ".v2.mp4"):
        touch(f"{video_dir}/{name}")
    paths = [os.path.basename(c.path) for c in read_manifest(path, video_dir).clips]
    assert paths == ["v1.mp4", "v2.mov"]  # hidden ._x / .x files are never taken


def test_wlasl_optional_fields_may_be_missing_or_null(tmp_path):
    inst = {"video_id": "a1", "split": "test", "frame_start": 1, "frame_end": -1, "source": None}
    path, video_dir = wlasl(tmp_path, [{"gloss": "go", "instances": [inst]}])
    (clip,) = read_manifest(path, video_dir).clips
    assert (clip.fps, clip.signer_id, clip.instance_id, clip.source, clip.bbox) == (
        None,
        -1,
        -1,
        "",
        None,
    )


def test_wlasl_unicode_gloss_video_id_and_folder(tmp_path):
    data = [{"gloss": "über café 手話", "instances": [instance("vidéo_é")]}]
    video_dir = tmp_path / "vidéos 日本"
    video_dir.mkdir()
    touch(str(video_dir / "vidéo_é.mp4"))
    m = read_manifest(write_json(tmp_path, data), str(video_dir))
    assert m.glosses == ("über café 手話",)
    assert m.clips[0].path == str(video_dir / "vidéo_é.mp4")


def test_wlasl_gloss_without_instances_keeps_its_label(tmp_path):
    data = [{"gloss": "a", "instances": []}, {"gloss": "b", "instances": [instance("1")]}]
    path, video_dir = wlasl(tmp_path, data)
    m = read_manifest(path, video_dir)
    assert m.glosses == ("a", "b") and m.clips[0].label == 1


@pytest.mark.parametrize(
    "text, message",
    [
        ("", r"empty file, expected a JSON list of gloss entries"),
        ("  \n", r"empty file"),
        (
            '[{"gloss": "a",\n "instances": [}]',
            r"malformed JSON at line 2 column 16: Expecting value",
        ),
        ('{"gloss": "a"}', r"top level is a JSON object, expected a list of"),
        ('"hello"', r"top level is a JSON string, expected a list"),
        ("[NaN]", r"malformed JSON: NaN is not a number JSON allows"),
        (
            '[{"gloss": "a", "gloss": "b", "instances": []}]',
            r"malformed JSON: duplicate key 'gloss' in one object",
        ),
        ("[" * 100000 + "]" * 100000, r"malformed JSON"),
        ("[1" + "0" * 5000 + "]", r"malformed JSON: .*digits"),
    ],
)
def test_wlasl_malformed_file(tmp_path, text, message):
    path = write_json(tmp_path, text)
    (tmp_path / "videos").mkdir()
    with pytest.raises(ManifestError, match=re.escape(path) + ": " + message):
        read_manifest(path, str(tmp_path / "videos"))


def test_wlasl_not_utf8(tmp_path):
    path = tmp_path / "w.json"
    path.write_bytes(b'[{"gloss": "\xff"}]')
    with pytest.raises(ManifestError, match=r"w\.json: not UTF-8 text \(byte 12: b'\\xff"):
        read_manifest(str(path), str(tmp_path))


E0 = 'entry 0 (gloss "book"), instance 0'


@pytest.mark.parametrize(
    "change, message",
    [
        ({"frame_start": "12"}, f"{E0}: field 'frame_start' is '12', expected a JSON integer"),
        (
            {"frame_start": 1.5},
            f"{E0}: field 'frame_start' is 1.5 (a JSON number with a fraction or exponent), "
            "expected a JSON integer",
        ),
        ({"frame_end": True}, f"{E0}: field 'frame_end' is True, expected a JSON integer"),
        ({"frame_start": 0}, f"{E0}: field 'frame_start' is 0, expected a 1-based frame number"),
        ({"frame_start": -3}, f"{E0}: field 'frame_start' is -3, expected a 1-based frame number"),
        ({"frame_end": 0}, f"{E0}: field 'frame_end' is 0, expected -1 (to the end) or a frame"),
        ({"frame_end": -2}, f"{E0}: field 'frame_end' is -2, expected -1 (to the end)"),
        (
            {"frame_start": 50, "frame_end": 10},
            f"{E0}: field 'frame_end' is 10, expected -1 or a frame number >= frame_start (50)",
        ),
        (
            {"frame_end": 2**62 + 1},
            f"{E0}: field 'frame_end' is {2**62 + 1}, expected an integer within ±2**62",
        ),
        ({"split": "dev"}, f"{E0}: field 'split' is 'dev', expected one of ['train', 'val', 'te"),
        ({"split": "Train"}, f"{E0}: field 'split' is 'Train', expected one of"),
        ({"split": None}, f"{E0}: field 'split' is missing or null"),
        ({"video_id": 335}, f"{E0}: field 'video_id' is 335, expected a string"),
        ({"video_id": ""}, f"{E0}: field 'video_id' is '', expected a non-empty file name stem"),
        ({"video_id": "../x"}, f"{E0}: field 'video_id' is '../x', expected a non-empty file name"),
        ({"video_id": "a\nb"}, f"{E0}: field 'video_id' is 'a\\nb', expected a non-empty"),
        ({"fps": "25"}, f"{E0}: field 'fps' is '25', expected a number in (0, 1000]"),
        ({"fps": 0}, f"{E0}: field 'fps' is 0, expected a number in (0, 1000] with at most"),
        ({"fps": 1e300}, f"{E0}: field 'fps' is 1E+300 (a JSON number"),
        ({"signer_id": "3"}, f"{E0}: field 'signer_id' is '3', expected a JSON integer"),
        ({"instance_id": -5}, f"{E0}: field 'instance_id' is -5, expected an integer >= 0"),
        ({"source": 7}, f"{E0}: field 'source' is 7, expected a string without control"),
        (
            {"bbox": [1, 2, 3]},
            f"{E0}: field 'bbox' is [1, 2, 3] (a JSON array), expected a list of four integers",
        ),
        (
            {"bbox": [1, 2, 3, 4.5]},
            f"{E0}: field 'bbox' is [1, 2, 3, 4.5] (a JSON array), expected a list of four",
        ),
        (
            {"bbox": [50, 0, 10, 10]},
            f"{E0}: field 'bbox' is [50, 0, 10, 10] (a JSON array), expected [x0, y0, x1, y1] with",
        ),
    ],
)
def test_wlasl_bad_instance_field(tmp_path, change, message):
    inst = instance("00335")
    inst.update(change)
    if change.get("split", "x") is None:
        del inst["split"]
    msg = wlasl_error(tmp_path, [{"gloss": "book", "instances": [inst]}])
    assert msg.startswith(f"{tmp_path / 'WLASL_v0.3.json'}: {message}"), msg


@pytest.mark.parametrize("missing", ["video_id", "split", "frame_start", "frame_end"])
def test_wlasl_required_field_missing(tmp_path, missing):
    inst = instance("00335")
    del inst[missing]
    msg = wlasl_error(tmp_path, [{"gloss": "book", "instances": [inst]}])
    assert msg.endswith(f"{E0}: field '{missing}' is missing or null")


@pytest.mark.parametrize(
    "data, message",
    [
        ([], r"no instances at all, expected at least one clip"),
        ([[1]], r"entry 0: is a JSON array, expected an object"),
        ([{"instances": []}], r"entry 0: field 'gloss' is missing, expected a string"),
        ([{"gloss": 5, "instances": []}], r"entry 0: field 'gloss' is 5, expected a string"),
        ([{"gloss": "", "instances": []}], r"entry 0: field 'gloss' is '', expected a non-empty"),
        (
            [{"gloss": "a\nb", "instances": []}],
            r"entry 0: field 'gloss' is 'a\\nb', expected a gloss without control or line-break",
        ),
        ([{"gloss": "a\u2028b", "instances": []}], r"entry 0: field 'gloss' .* without control"),
        ([{"gloss": "\ud800", "instances": []}], r"entry 0: field 'gloss' .* without control"),
        ([{"gloss": " a", "instances": []}], r"entry 0: field 'gloss' is ' a', expected a gloss"),
        ([{"gloss": "a"}], r'entry 0 \(gloss "a"\): field \'instances\' is missing, expected a'),
        (
            [{"gloss": "a", "instances": {"x": 1}}],
            r'entry 0 \(gloss "a"\): field \'instances\' is \{"x": 1\} \(a JSON object\), expected',
        ),
        ([{"gloss": "a", "instances": [7]}], r"instance 0: is a JSON number, expected an instance"),
        (
            [{"gloss": "a", "instances": []}, {"gloss": "b", "instances": []}, {"gloss": "a"}],
            r"entry 2: field 'gloss' is 'a', already given by entry 0; expected each gloss once",
        ),
        (
            [
                {"gloss": "a", "instances": [instance("v1")]},
                {"gloss": "b", "instances": [instance("v2"), instance("v1", instance_id=1)]},
            ],
            r'entry 1 \(gloss "b"\), instance 1: field \'video_id\' is \'v1\', expected a video_id '
            r'used once \(also at entry 0 \(gloss "a"\), instance 0\)',
        ),
        (
            [{"gloss": "a", "instances": [instance(v, instance_id=4) for v in ("v1", "v2")]}],
            r'entry 0 \(gloss "a"\), instance 1: field \'instance_id\' is 4, expected an '
            r"instance_id used once within the gloss \(also at instance 0\)",
        ),
    ],
)
def test_wlasl_bad_structure(tmp_path, data, message):
    msg = wlasl_error(tmp_path, data)
    assert re.search(message, msg), msg


def test_wlasl_same_instance_id_in_two_glosses_is_fine(tmp_path):
    data = [
        {"gloss": "a", "instances": [instance("v1", instance_id=0)]},
        {"gloss": "b", "instances": [instance("v2", instance_id=0)]},
    ]
    path, video_dir = wlasl(tmp_path, data)
    assert len(read_manifest(path, video_dir).clips) == 2


def test_wlasl_needs_an_existing_video_dir(tmp_path):
    path = write_json(tmp_path, GOOD_WLASL)
    with pytest.raises(ManifestError, match=r"v0\.3\.json: a WLASL JSON manifest needs video_dir"):
        read_manifest(path)
    with pytest.raises(ManifestError, match=r"json: video_dir '.*nowhere' is not a folder"):
        read_manifest(path, str(tmp_path / "nowhere"))


# ------------------------------------------------------------------------- selection
def selection_data():
    return [
        {"gloss": g, "instances": [instance(f"{g}{s}", s) for s in ("train", "val", "test")]}
        for g in ("g0", "g1", "g2", "g3")
    ]


def test_top_k_keeps_first_glosses_and_their_labels(tmp_path):
    path, video_dir = wlasl(tmp_path, selection_data())
    m = read_manifest(path, video_dir, top_k_glosses=2)
    assert m.glosses == ("g0", "g1")
    assert [(c.clip_id, c.label) for c in m.clips] == [
        ("g0train", 0),
        ("g0val", 0),
        ("g0test", 0),
        ("g1train", 1),
        ("g1val", 1),
        ("g1test", 1),
    ]
    assert read_manifest(path, video_dir, top_k_glosses=4).glosses == ("g0", "g1", "g2", "g3")


def test_splits_do_not_change_labels(tmp_path):
    path, video_dir = wlasl(tmp_path, selection_data())
    full = read_manifest(path, video_dir, top_k_glosses=3)
    test_only = read_manifest(path, video_dir, top_k_glosses=3, splits=["test"])
    two = read_manifest(path, video_dir, top_k_glosses=3, splits=("val", "train"))
    assert test_only.glosses == two.glosses == full.glosses == ("g0", "g1", "g2")
    assert [(c.clip_id, c.label) for c in test_only.clips] == [
        ("g0test", 0),
        ("g1test", 1),
        ("g2test", 2),
    ]
    assert [c for c in full.clips if c.split != "test"] == list(two.clips)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"top_k_glosses": 0}, "top_k_glosses must be a positive integer, got 0"),
        ({"top_k_glosses": True}, "top_k_glosses must be a positive integer, got True"),
        ({"top_k_glosses": 2.0}, "top_k_glosses must be a positive integer, got 2.0"),
        ({"top_k_glosses": 5}, "top_k_glosses=5 but the manifest has only 4 glosses"),
        ({"splits": ["train", "dev"]}, "unknown split 'dev' in splits, expected one of"),
        ({"splits": "train"}, "splits must be a list of split names, got 'train'"),
        ({"splits": []}, "splits must name at least one of ['train', 'val', 'test'], got []"),
    ],
)
def test_bad_selection(tmp_path, kwargs, message):
    path, video_dir = wlasl(tmp_path, selection_data())
    with pytest.raises(ManifestError, match=re.escape(message)):
        read_manifest(path, video_dir, **kwargs)


def test_selection_that_leaves_nothing(tmp_path):
    data = [{"gloss": "a", "instances": [instance("v1", "train")]}]
    path, video_dir = wlasl(tmp_path, data)
    with pytest.raises(
        ManifestError,
        match=re.escape(
            f"{path}: no clips left after selecting top_k_glosses=None, splits=['test'] "
            "(the manifest has 1 clips)"
        ),
    ):
        read_manifest(path, video_dir, splits=["test"])


# ------------------------------------------------------------------------- CSV
def test_csv_reads_columns_resolves_paths_and_numbers_labels_by_first_appearance(tmp_path):
    text = (
        "path,label,split,frame_start,frame_end,video_id,fps,signer_id,instance_id,source,bbox\r\n"
        "v/a.mp4,hello,train,,,,,,,,\r\n"
        '/abs/b.mov,book,val,3,9,vid_b,30000/1001,2,7,web,"[1, 2, 30, 40]"\r\n'
        "\r\n"
        "gs://bucket/c.webm,hello,test,5,-1,,29.97,,,,\r\n"
        "v/a.mp4,hello,train,1,10,,,,,,\r\n"
    )
    path = write_csv(tmp_path, text)
    m = read_manifest(path)
    assert m.glosses == ("hello", "book")
    a, b, c, a2 = m.clips
    assert a == Clip(
        clip_id="v/a.mp4",
        path=str(tmp_path / "v" / "a.mp4"),
        gloss="hello",
        label=0,
        video_id="a",  # no video_id cell: the file's stem, so the record is traceable
        rel_path="v/a.mp4",
    )
    assert b == Clip(
        clip_id="vid_b#3-9",
        path="/abs/b.mov",
        gloss="book",
        label=1,
        split="val",
        frame_start=3,
        frame_end=9,
        fps=fractions.Fraction(30000, 1001),
        video_id="vid_b",
        source="web",
        instance_id=7,
        signer_id=2,
        bbox=(1, 2, 30, 40),
        rel_path="/abs/b.mov",
    )
    assert (c.clip_id, c.path, c.split, c.fps) == (
        "gs://bucket/c.webm#5--1",
        "gs://bucket/c.webm",
        "test",
        fractions.Fraction(2997, 100),
    )
    # Same file, another frame range: another clip.
    assert (a2.clip_id, a2.path) == ("v/a.mp4#1-10", a.path)


def test_csv_minimal_header_with_spaces_bom_and_unicode(tmp_path):
    text = "\ufeff path , label \nвидео/ü.mp4,привет\n"
    path = write_csv(tmp_path, text)
    m = read_manifest(path)
    assert m.glosses == ("привет",)
    assert m.clips[0].path == str(tmp_path / "видео" / "ü.mp4")
    assert m.clips[0].clip_id == "видео/ü.mp4"


def test_csv_dotdot_is_resolved_and_video_dir_is_the_base(tmp_path):
    sub = tmp_path / "meta"
    sub.mkdir()
    path = write_csv(sub, "path,label\n../videos/x.mp4,a\n")
    assert read_manifest(path).clips[0].path == str(tmp_path / "videos" / "x.mp4")
    other = tmp_path / "elsewhere"
    assert read_manifest(path, str(other)).clips[0].path == str(tmp_path / "videos" / "x.mp4")
    path2 = write_csv(sub, "path,label\nx.mp4,a\n", name="b.csv")
    assert read_manifest(path2, str(other)).clips[0].path == str(other / "x.mp4")
    # On an object store '..' is resolved here and may not leave the bucket.
    assert read_manifest(path2, "gs://bk/data/").clips[0].path == "gs://bk/data/x.mp4"
    path3 = write_csv(sub, "path,label\n../v/x.mp4,a\n../../y.mp4,a\n", name="c.csv")
    with pytest.raises(
        ManifestError,
        match=re.escape(
            f"{path3}: line 3: field 'path' is '../../y.mp4', "
            "expected a path inside the bucket gs://bk"
        ),
    ):
        read_manifest(path3, "gs://bk/data")
    assert read_manifest(path3, "gs://bk/data/deeper").clips[1].path == "gs://bk/y.mp4"


def test_csv_formula_cells_are_plain_text(tmp_path):
    path = write_csv(tmp_path, 'path,label,source\n=cmd|x.mp4,"=SUM(A1)",+web\n@a.mp4,-b,@x\n')
    m = read_manifest(path)
    assert m.glosses == ("=SUM(A1)", "-b")
    assert [c.clip_id for c in m.clips] == ["=cmd|x.mp4", "@a.mp4"]
    assert m.clips[0].source == "+web"
    with pytest.raises(
        ManifestError,
        match=re.escape("line 2: field 'frame_start' is '=1', expected an integer written in"),
    ):
        read_manifest(write_csv(tmp_path, "path,label,frame_start\na.mp4,b,=1\n", name="f.csv"))


H = "path,label,split,frame_start,frame_end,video_id,fps,signer_id,bbox\n"


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty file, expected a header row 'path,label,...'"),
        ("\n\n", "empty file, expected a header row"),
        ("path,label\n", "no rows after the header, expected at least one clip"),
        (
            "file,label\na.mp4,b\n",
            "line 1: unknown column 'file' (column 1), expected a header row naming columns from",
        ),
        ("path,label,frame_strat\na,b,3\n", "line 1: unknown column 'frame_strat' (column 3)"),
        ("path,label,\na,b,\n", "line 1: unknown column '' (column 3)"),
        ("path,label,path\na,b,c\n", "line 1: column 'path' appears twice"),
        ("path,split\na.mp4,train\n", "line 1: header ['path', 'split'] has no 'label' column"),
        ("a.mp4,hello\n", "line 1: unknown column 'a.mp4' (column 1)"),
        ('path,label\n"a.mp4"x,b\n', "line 2: malformed CSV: ',' expected after '\"'"),
        ('path,label\n"a.mp4,b\n', "line 2: malformed CSV: unexpected end of data"),
        ("path,label\na.mp4\n", "line 2: has 1 cells, expected 2 as in the header ['path', 'lab"),
        ("path,label\n\n\na.mp4,b,c\n", "line 4: has 3 cells, expected 2"),
        ("path,label\n,b\n", "line 2: field 'path' is '', expected a non-empty video path"),
        ("path,label\na\tb.mp4,b\n", "line 2: field 'path' is 'a\\tb.mp4', expected a non-empty"),
        ("path,label\na.mp4,\n", "line 2: field 'label' is '', expected a non-empty gloss"),
        ('path,label\na.mp4,"x\ny"\n', "line 2: field 'label' is 'x\\ny', expected a gloss with"),
        ("path,label\na.mp4,b \n", "line 2: field 'label' is 'b ', expected a gloss without lead"),
        ('path,label\na.mp4,b\n"x\ny.mp4",c\n', "line 3: field 'path' is 'x\\ny.mp4', expected"),
        (H + "a,b,dev,,,,,,\n", "line 2: field 'split' is 'dev', expected one of"),
        (H + "a,b,,1.0,,,,,\n", "line 2: field 'frame_start' is '1.0', expected an integer"),
        (H + "a,b,,1_0,,,,,\n", "line 2: field 'frame_start' is '1_0', expected an integer"),
        (H + "a,b,,١٢,,,,,\n", "line 2: field 'frame_start' is '١٢', expected an integer"),
        (H + "a,b,,0,,,,,\n", "line 2: field 'frame_start' is 0, expected a 1-based frame"),
        (H + "a,b,,,0,,,,\n", "line 2: field 'frame_end' is 0, expected -1 (to the end) or"),
        (H + "a,b,,,-7,,,,\n", "line 2: field 'frame_end' is -7, expected -1 (to the end)"),
        (H + "a,b,,9,3,,,,\n", "line 2: field 'frame_end' is 3, expected -1 or a frame number >= "),
        (
            H + f"a,b,,{2**62 + 1},,,,,\n",
            f"line 2: field 'frame_start' is '{2**62 + 1}', expected an integer within ±2**62",
        ),
        (H + "a,b,,9" + "9" * 40 + ",,,,,\n", "line 2: field 'frame_start' is '9999"),
        (H + "a,b,,,,x/y,,,\n", "line 2: field 'video_id' is 'x/y', expected a non-empty file"),
        (H + "a,b,,,,,fast,,\n", "line 2: field 'fps' is 'fast', expected a frame rate like 25"),
        (H + "a,b,,,,,25/0,,\n", "line 2: field 'fps' is '25/0', expected a frame rate with a non"),
        (H + "a,b,,,,,0,,\n", "line 2: field 'fps' is '0', expected a frame rate in (0, 1000]"),
        (H + "a,b,,,,,nan,,\n", "line 2: field 'fps' is 'nan', expected a frame rate like"),
        (H + "a,b,,,,,,-4,\n", "line 2: field 'signer_id' is -4, expected an integer >= 0"),
        (H + "a,b,,,,,,,1 2 3\n", "line 2: field 'bbox' is '1 2 3', expected four integers"),
        (H + "a,b,,,,,,,9 0 1 5\n", "line 2: field 'bbox' is '9 0 1 5', expected [x0, y0, x1,"),
        (
            "path,label,video_id\na.mp4,b,v1\nc.mp4,d,v1\n",
            "line 3: field 'clip_id' is 'v1', expected a unique clip (the same clip is on line 2)",
        ),
        (
            "path,label,frame_start,frame_end\na.mp4,b,1,5\n\na.mp4,d,1,5\n",
            "line 4: field 'clip_id' is 'a.mp4#1-5', expected a unique clip (the same clip is on "
            "line 2)",
        ),
    ],
)
def test_csv_bad_input(tmp_path, text, message):
    msg = csv_error(tmp_path, text)
    assert msg.startswith(f"{tmp_path / 'clips.csv'}: {message}"), msg


def test_csv_not_utf8(tmp_path):
    path = tmp_path / "c.csv"
    path.write_bytes("path,label\na.mp4,caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ManifestError, match=r"c\.csv: not UTF-8 text \(byte 20: b'\\xe9"):
        read_manifest(str(path))


# ------------------------------------------------------------------------- folder
def test_folder_gloss_layout(tmp_path):
    root = tmp_path / "data"
    for rel in ("zebra/1.mp4", "apple/b.MOV", "apple/a.mp4", "apple/readme.txt", "apple/._a.mp4"):
        touch(str(root / rel))
    (root / "empty_gloss").mkdir()
    (root / "apple" / "nested").mkdir()
    touch(str(root / "notes.txt"))
    m = read_manifest(str(root))
    assert m.glosses == ("apple", "empty_gloss", "zebra")
    assert m.format == "folder"

    def clip(rel, gloss, label):
        stem = os.path.splitext(os.path.basename(rel))[0]
        return Clip(rel, str(root / rel), gloss, label, video_id=stem, rel_path=rel)

    assert m.clips == (
        clip("apple/a.mp4", "apple", 0),
        clip("apple/b.MOV", "apple", 0),
        clip("zebra/1.mp4", "zebra", 2),
    )


def test_folder_split_layout_labels_over_all_splits(tmp_path):
    root = tmp_path / "data"
    for rel in ("train/b/1.mp4", "train/a/2.webm", "test/c/3.avi", "val/a/4.mp4"):
        touch(str(root / rel))
    m = read_manifest(str(root))
    assert m.glosses == ("a", "b", "c")
    assert [(c.clip_id, c.label, c.split) for c in m.clips] == [
        ("train/a/2.webm", 0, "train"),
        ("train/b/1.mp4", 1, "train"),
        ("val/a/4.mp4", 0, "val"),
        ("test/c/3.avi", 2, "test"),
    ]
    only_test = read_manifest(str(root), splits=["test"])
    assert only_test.glosses == m.glosses and only_test.clips == (m.clips[3],)
    # Same folder again as video_dir is harmless; another folder is refused.
    assert read_manifest(str(root), str(root) + "/") == m
    with pytest.raises(ManifestError, match="a folder manifest holds its own videos"):
        read_manifest(str(root), str(tmp_path))


def test_folder_mixed_top_level_is_the_gloss_layout(tmp_path):
    root = tmp_path / "data"
    touch(str(root / "test" / "1.mp4"))  # 'test' is also an ASL sign
    touch(str(root / "book" / "2.mp4"))
    m = read_manifest(str(root))
    assert m.glosses == ("book", "test")
    assert {c.split for c in m.clips} == {"train"}


def test_folder_unicode(tmp_path):
    root = tmp_path / "données"
    touch(str(root / "手話" / "vidéo 1.mp4"))
    m = read_manifest(str(root))
    assert m.glosses == ("手話",) and m.clips[0].clip_id == "手話/vidéo 1.mp4"


@pytest.mark.parametrize(
    "files, message",
    [
        (["a/readme.txt", "b/x.jpg"], "no video files found, expected ROOT/<gloss>/<video>"),
        ([], "no video files found"),
        (["a/1.mp4", "loose.mp4"], "video 'loose.mp4' is not inside a gloss folder"),
        (["train/a/1.mp4", "train/x.mp4"], "video 'train/x.mp4' is not inside a gloss folder"),
        (["a\nb/1.mp4"], "folder \"a\\nb\": field 'gloss' is 'a\\nb', expected a gloss without"),
        ([" a/1.mp4"], "folder \" a\": field 'gloss' is ' a', expected a gloss without leading"),
    ],
)
def test_folder_bad(tmp_path, files, message):
    root = tmp_path / "data"
    root.mkdir()
    for rel in files:
        touch(str(root / rel))
    with pytest.raises(ManifestError) as e:
        read_manifest(str(root))
    assert str(e.value).startswith(f"{root}: {message}"), str(e.value)


# ------------------------------------------------------------------------- dispatch
def test_dispatch_errors(tmp_path):
    (tmp_path / "clips.txt").write_text("x")
    with pytest.raises(
        ManifestError,
        match=re.escape(
            f"{tmp_path / 'clips.txt'}: unknown manifest kind '.txt', expected a WLASL *.json "
            "file, a *.csv file, or a folder"
        ),
    ):
        read_manifest(str(tmp_path / "clips.txt"))
    with pytest.raises(ManifestError, match=re.escape(f"{tmp_path / 'nope.csv'}: no such file")):
        read_manifest(str(tmp_path / "nope.csv"))
    nope = str(tmp_path / "nope")
    with pytest.raises(ManifestError, match=re.escape(f"{nope}: no such file or folder")):
        read_manifest(nope)
    with pytest.raises(ManifestError, match="manifest must be a path, got ''"):
        read_manifest("")


def test_manifest_error_is_a_value_error():
    assert issubclass(ManifestError, ValueError)
    assert manifests.SPLITS == ("train", "val", "test")
    assert manifests.VIDEO_EXTENSIONS[0] == ".mp4"
    assert all(e == e.lower() and e.startswith(".") for e in manifests.VIDEO_EXTENSIONS)


# ------------------------------------------------------------------------- properties
CSV_ALPHABET = st.sampled_from(
    list(',"\n\r\t =+-@/.\\#:0123456789') + list("abtrainvlesx") + ["\x00", "é", "\u2028", "手"]
)
CSV_HEADERS = st.sampled_from(
    ["path,label\n", H, "path,label,split,frame_start,frame_end,fps,instance_id\n", ""]
)


@hypothesis.settings(max_examples=150, deadline=None)
@hypothesis.given(header=CSV_HEADERS, body=st.text(CSV_ALPHABET, max_size=80))
def test_any_csv_gives_a_manifest_or_a_manifest_error(header, body):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.csv")
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(header + body)
        try:
            m = read_manifest(path)
        except ManifestError as e:
            assert str(e).startswith(path + ": ")
            return
        # Whatever was accepted keeps the invariants the pipeline relies on.
        assert len({c.clip_id for c in m.clips}) == len(m.clips)
        assert len(set(m.glosses)) == len(m.glosses)
        for c in m.clips:
            assert m.glosses[c.label] == c.gloss
            assert c.split in manifests.SPLITS
            assert c.frame_start >= 1 and (c.frame_end == -1 or c.frame_end >= c.frame_start)
            assert "\n" not in c.gloss and "\r" not in c.gloss


# Text a user could put in a cell: any letters, digits, punctuation, spaces inside (not around).
CELL_TEXT = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=12
).filter(lambda t: t == t.strip())
CSV_ROWS = st.lists(
    st.fixed_dictionaries(
        {
            "path": CELL_TEXT.filter(lambda t: "://" not in t and not t.startswith("/")),
            # Glosses are read in NFC (two spellings of one gloss are refused): written in NFC.
            "label": CELL_TEXT.map(lambda t: unicodedata.normalize("NFC", t)),
            "split": st.sampled_from(manifests.SPLITS),
            "frame_start": st.integers(1, 2**62),
            "length": st.integers(0, 100),
            "fps": st.fractions(min_value=1, max_value=1000, max_denominator=1000),
        }
    ),
    min_size=1,
    max_size=6,
    unique_by=lambda r: os.path.normpath(r["path"]),  # one clip per file: paths normalised
)


@hypothesis.settings(max_examples=100, deadline=None)
@hypothesis.given(rows=CSV_ROWS)
def test_csv_round_trip(rows):
    """Rows written by csv.writer (quoting, formula-like text, any script) read back exactly."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.csv")
        with open(path, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["path", "label", "split", "frame_start", "frame_end", "fps"])
            for r in rows:
                r["frame_end"] = min(r["frame_start"] + r["length"], 2**62)
                writer.writerow(
                    [r[k] for k in ("path", "label", "split", "frame_start")]
                    + [r["frame_end"], r["fps"]]
                )
        m = read_manifest(path)
    glosses = list(dict.fromkeys(r["label"] for r in rows))
    assert list(m.glosses) == glosses
    assert len(m.clips) == len(rows)
    for clip, r in zip(m.clips, rows):
        assert clip.clip_id == f"{r['path']}#{r['frame_start']}-{r['frame_end']}"
        assert clip.path == os.path.normpath(os.path.join(tmp, r["path"]))
        assert (clip.gloss, clip.label) == (r["label"], glosses.index(r["label"]))
        assert (clip.split, clip.frame_start, clip.frame_end, clip.fps) == (
            r["split"],
            r["frame_start"],
            r["frame_end"],
            r["fps"],
        )


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["", "train", "val", "book", "a\nb", "12", "v1"])
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
    max_leaves=12,
)
INSTANCES = st.fixed_dictionaries(
    {},
    optional={
        "video_id": st.sampled_from(["v1", "v2", "", "a/b"]) | JSON_SCALARS,
        "split": st.sampled_from(list(manifests.SPLITS)) | JSON_SCALARS,
        "frame_start": st.integers(-2, 5) | JSON_SCALARS,
        "frame_end": st.integers(-2, 5) | JSON_SCALARS,
        "fps": st.sampled_from([25, 29.97, 0, -1]) | JSON_SCALARS,
        "instance_id": st.integers(-2, 2) | JSON_SCALARS,
        "bbox": st.lists(st.integers(-1, 5), min_size=3, max_size=5) | JSON_VALUES,
    },
)
WLASL_DOCS = (
    st.lists(
        st.fixed_dictionaries(
            {"gloss": st.sampled_from(["a", "b", "c", " d", ""]) | JSON_SCALARS},
            optional={"instances": st.lists(INSTANCES | JSON_VALUES, max_size=3) | JSON_VALUES},
        )
        | JSON_VALUES,
        max_size=3,
    )
    | JSON_VALUES
)


@hypothesis.settings(max_examples=150, deadline=None)
@hypothesis.given(doc=WLASL_DOCS)
def test_any_json_gives_a_manifest_or_a_manifest_error(doc):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f)
        try:
            m = read_manifest(path, tmp)
        except ManifestError as e:
            assert str(e).startswith(path + ": ")
            return
        assert m.clips and len({c.video_id for c in m.clips}) == len(m.clips)
        for c in m.clips:
            assert m.glosses[c.label] == c.gloss
            assert c.path == os.path.join(tmp, c.video_id + ".mp4")


def test_module_import_does_not_import_tensorflow():
    import subprocess
    import sys

    code = "import sys, preprocess.manifests; print('tensorflow' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    )
    assert out.stdout.strip() == "False"
