"""Manifest integrity across readers: one clip per file and window (leakage between splits),
Unicode-normalised labels, manifests that are not regular files, and videos that are only links.

Videos here are empty files: the readers never open them.
"""

import io
import json
import os
import socket
import subprocess
import sys
import unicodedata

import pytest

from preprocess.manifests import ManifestError, read_manifest, reading, video_paths
from schemas import coverage

NFC = unicodedata.normalize("NFC", "café")
NFD = unicodedata.normalize("NFD", "café")
assert NFC != NFD

YT = "a1B2c3D4e5F"
YT_URL = f"https://www.youtube.com/watch?v={YT}"


def touch(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "wb").close()
    return str(path)


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    return str(path)


def error(*args, **kwargs) -> str:
    with pytest.raises(ManifestError) as e:
        read_manifest(*args, **kwargs)
    return str(e.value)


def wlasl_instance(video_id, split, frame_start=1, frame_end=-1, url=YT_URL):
    return {
        "video_id": video_id,
        "split": split,
        "frame_start": frame_start,
        "frame_end": frame_end,
        "fps": 25,
        "url": url,
    }


def asl_citizen(root, **splits):
    for split, rows in splits.items():
        lines = ["Participant ID,Video file,Gloss,ASL-LEX Code"] + rows
        write(root / "splits" / f"{split}.csv", "\n".join(lines) + "\n")
    (root / "videos").mkdir(exist_ok=True)
    return str(root)


# ============================================================ 1. duplicates and leakage
def test_csv_one_file_spelt_three_ways_in_three_splits_is_refused(tmp_path):
    touch(tmp_path / "g1.mp4")
    path = write(
        tmp_path / "clips.csv",
        "path,label,split\ng1.mp4,a,train\n./g1.mp4,a,val\nsub dir/../g1.mp4,a,test\n",
    )
    assert error(path) == (
        f"{path}: line 3: field 'path' is './g1.mp4' (split 'val'), the same clip as 'g1.mp4' "
        f"of line 2 (split 'train'): both are {tmp_path / 'g1.mp4'}, the whole video; expected "
        "each clip once; a clip in splits 'train' and 'val' would be trained on and evaluated on"
    )
    # Any two of the three spellings are one file.
    path = write(tmp_path / "b.csv", "path,label,split\ng1.mp4,a,train\nsub dir/../g1.mp4,a,test\n")
    assert "line 3: field 'path' is 'sub dir/../g1.mp4' (split 'test'), the same clip as" in (
        error(path)
    )


@pytest.mark.parametrize(
    "first, second, same",
    [
        ("x.mp4,,", "./x.mp4,,", "the whole video"),
        # Frames 1 to the end is the whole video, with or without frame cells.
        ("x.mp4,,", "x.mp4,1,-1", "the whole video"),
        ("x.mp4,3,9", "./x.mp4,3,9", "frames 3 to 9"),
        ("/abs/v/x.mp4,,", "/abs//v/./x.mp4,,", "the whole video"),
        ("gs://bk/v/x.mp4,,", "gs://bk/v//w/../x.mp4,,", "the whole video"),
    ],
)
def test_csv_same_file_and_window_in_one_split_is_refused(tmp_path, first, second, same):
    path = write(tmp_path / "c.csv", f"path,frame_start,frame_end,label\n{first},a\n{second},b\n")
    message = error(path)
    assert message.startswith(f"{path}: line 3: field 'path' is {second.split(',')[0]!r}")
    assert f"the same clip as {first.split(',')[0]!r} of line 2 (split 'train')" in message
    assert message.endswith(f", {same}; expected each clip once"), message


def test_csv_urls_keep_their_scheme_and_may_not_leave_the_bucket(tmp_path):
    path = write(tmp_path / "c.csv", "path,label\ngs://bk/v/./x.mp4,a\ngs://bk/v//y.mp4,a\n")
    assert [c.path for c in read_manifest(path).clips] == ["gs://bk/v/x.mp4", "gs://bk/v/y.mp4"]
    path = write(tmp_path / "d.csv", "path,label\ngs://bk/v/../../x.mp4,a\n")
    assert error(path) == (
        f"{path}: line 2: field 'path' is 'gs://bk/v/../../x.mp4', expected a path inside the "
        "bucket gs://bk"
    )


def test_csv_other_windows_of_one_file_in_other_splits_are_reported_not_refused(tmp_path):
    path = write(
        tmp_path / "c.csv",
        "path,label,split,frame_start,frame_end\n"
        "long.mp4,a,train,1,30\n./long.mp4,b,test,31,60\nother.mp4,a,val,,\n",
    )
    m = read_manifest(path)
    assert m.overlap == {
        "videos_in_several_splits": {str(tmp_path / "long.mp4"): {"train": 1, "test": 1}},
        "identical_clips_in_several_splits": [],
    }


def test_asl_citizen_same_file_in_two_split_files_is_refused(tmp_path):
    root = asl_citizen(
        tmp_path / "ASL_Citizen",
        train=["P1,x.mp4,HELLO,A"],
        test=["P2,./x.mp4,HELLO,A"],
    )
    touch(tmp_path / "ASL_Citizen" / "videos" / "x.mp4")
    message = error(root)
    assert message.startswith(
        f"{root}/splits/test.csv: line 2: field 'Video file' is './x.mp4' (split 'test'), the "
        f"same clip as 'x.mp4' of {root}/splits/train.csv: line 2 (split 'train'): both are "
        f"{root}/videos/x.mp4, the whole video"
    ), message


def test_wlasl_raw_release_shares_videos_across_splits_and_is_reported(tmp_path):
    """WLASL v0.3 itself cuts train and test clips from one YouTube video, and even holds the
    same whole video in train and test: a reader of the release cannot refuse it."""
    videos = tmp_path / "raw"
    touch(videos / f"{YT}.mp4")
    data = [
        {
            "gloss": "hot",
            "instances": [
                wlasl_instance("28119", "test"),
                wlasl_instance("28120", "train"),
                wlasl_instance("28121", "val", 1, 25),
            ],
        }
    ]
    path = write(tmp_path / "WLASL_v0.3.json", json.dumps(data))
    m = read_manifest(path, str(videos))
    assert [c.layout for c in m.clips] == ["raw"] * 3
    assert m.overlap == {
        "videos_in_several_splits": {str(videos / f"{YT}.mp4"): {"train": 1, "val": 1, "test": 1}},
        "identical_clips_in_several_splits": [["28119", "28120"]],
    }


def test_msasl_windows_of_one_video_in_every_split_are_reported(tmp_path):
    root = tmp_path / "MS-ASL"
    write(root / "MSASL_classes.json", '["hello"]')
    entry = (
        '{{"url": "www.youtube.com/watch?v={yt}", "start_time": {s}, "end_time": {e}, "label": 0}}'
    )
    write(root / "MSASL_train.json", f"[{entry.format(yt=YT, s=0, e=1)}]")
    write(root / "MSASL_test.json", f"[{entry.format(yt=YT, s=1, e=2)}, "
                                    f"{entry.format(yt=YT, s=0, e=1.0)}]")  # fmt: skip
    touch(tmp_path / "v" / f"{YT}.mp4")
    m = read_manifest(str(root), str(tmp_path / "v"))
    assert m.overlap == {
        "videos_in_several_splits": {str(tmp_path / "v" / f"{YT}.mp4"): {"train": 1, "test": 2}},
        # 0 and 1.0 seconds are one time: the same window.
        "identical_clips_in_several_splits": [["train_00000", "test_00001"]],
    }


def test_coverage_json_reports_the_overlap_and_the_table_counts_it(tmp_path):
    touch(tmp_path / "long.mp4")
    path = write(
        tmp_path / "c.csv",
        "path,label,split,frame_start,frame_end\nlong.mp4,a,train,1,30\nlong.mp4,a,val,31,60\n",
    )
    m = read_manifest(path)
    report = coverage.build(m.glosses, m.clips, [])
    assert report["videos_in_several_splits"] == {
        str(tmp_path / "long.mp4"): {"train": 1, "val": 1}
    }
    assert report["identical_clips_in_several_splits"] == []
    assert "  videos in more than one split: 1 (the same clip in several: 0)" in (
        coverage.format_table(report, 1)
    )
    # coverage.json written before the overlap was counted still prints.
    del report["videos_in_several_splits"], report["identical_clips_in_several_splits"]
    assert "videos in more than one split" not in coverage.format_table(report, 1)


def test_norm_path():
    assert video_paths.norm_path("/a/./b//c/../x.mp4") == "/a/b/x.mp4"
    assert video_paths.norm_path("s3://bk//a/./x.mp4") == "s3://bk/a/x.mp4"
    assert video_paths.norm_path("gs://bk/a/../x.mp4") == "gs://bk/x.mp4"
    with pytest.raises(ValueError, match="climbs above gs://bk"):
        video_paths.norm_path("gs://bk/a/../../x.mp4")


# ============================================================ 2. Unicode labels
def test_csv_both_spellings_of_one_gloss_are_refused_with_their_code_points(tmp_path):
    path = write(tmp_path / "c.csv", f"path,label\na.mp4,{NFC}\nb.mp4,x\nc.mp4,{NFD}\n")
    assert error(path) == (
        f"{path}: line 4: field 'label' is 'cafe\\u0301', the gloss 'caf\\xe9' of line 2 in "
        "another Unicode spelling (both are 'café' in NFC), expected one spelling of each gloss"
    )


def test_csv_written_in_nfd_throughout_gives_nfc_labels(tmp_path):
    path = write(tmp_path / "c.csv", f"path,label\na.mp4,{NFD}\nb.mp4,{NFD}\n")
    m = read_manifest(path)
    assert m.glosses == (NFC,) and {c.gloss for c in m.clips} == {NFC}


def test_wlasl_glosses_are_nfc_and_both_spellings_are_refused(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    data = [{"gloss": NFD, "instances": [wlasl_instance("1", "train")]}]
    path = write(tmp_path / "w.json", json.dumps(data))
    m = read_manifest(path, str(videos))
    assert m.glosses == (NFC,) and m.clips[0].gloss == NFC
    data.append({"gloss": NFC, "instances": []})
    path = write(tmp_path / "w.json", json.dumps(data))
    assert error(path, str(videos)).startswith(
        f"{path}: entry 1: field 'gloss' is 'caf\\xe9', the gloss 'cafe\\u0301' of entry 0 in "
        "another Unicode spelling"
    )


def test_folder_glosses_are_nfc_but_paths_keep_the_folder_name(tmp_path):
    video = touch(tmp_path / "root" / NFD / "a.mp4")
    m = read_manifest(str(tmp_path / "root"))
    assert m.glosses == (NFC,)
    assert (m.clips[0].gloss, m.clips[0].path) == (NFC, video)
    touch(tmp_path / "split" / "train" / NFC / "a.mp4")
    touch(tmp_path / "split" / "test" / NFD / "b.mp4")
    assert error(str(tmp_path / "split")) == (
        f"{tmp_path / 'split'}: folder \"test/{NFD}\": field 'gloss' is 'cafe\\u0301', the gloss "
        "'caf\\xe9' of folder \"train/café\" in another Unicode spelling (both are 'café' in "
        "NFC), expected one spelling of each gloss"
    )


def test_msasl_and_autsl_classes_are_nfc(tmp_path):
    root = tmp_path / "MS-ASL"
    write(root / "MSASL_classes.json", json.dumps([NFD]))
    write(root / "MSASL_train.json", f'[{{"url": "youtu.be/{YT}", "start_time": 0, '
                                     f'"end_time": 1, "label": 0}}]')  # fmt: skip
    (tmp_path / "v").mkdir()
    m = read_manifest(str(root), str(tmp_path / "v"))
    assert m.glosses == (NFC,) and m.clips[0].gloss == NFC

    autsl = tmp_path / "AUTSL"
    write(autsl / "SignList_ClassId_TR_EN.csv", f"ClassId,TR,EN\n0,x,{NFD}\n1,y,{NFC}\n")
    write(autsl / "train_labels.csv", "signer0_sample1,0\n")
    assert error(str(autsl)).startswith(
        f"{autsl}/SignList_ClassId_TR_EN.csv: line 3: field 'EN' is 'caf\\xe9', the gloss "
        "'cafe\\u0301' of line 2 in another Unicode spelling"
    )
    write(autsl / "SignList_ClassId_TR_EN.csv", f"ClassId,TR,EN\n0,x,{NFD}\n")
    assert read_manifest(str(autsl)).glosses == (NFC,)


def test_asl_citizen_spellings_are_compared_across_split_files(tmp_path):
    root = asl_citizen(
        tmp_path / "ASL_Citizen", train=[f"P1,a.mp4,{NFC},A"], val=[f"P2,b.mp4,{NFD},A"]
    )
    assert error(root).startswith(
        f"{root}/splits/val.csv: line 2: field 'Gloss' is 'cafe\\u0301', the gloss 'caf\\xe9' of "
        f"{root}/splits/train.csv: line 2 in another Unicode spelling"
    )


# ============================================================ 3. manifests that are not files
_READ_TIMED = """
import json, resource, sys, time
# A regression reading /dev/zero whole must fail fast, not take the machine's memory.
resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))
from preprocess.manifests import ManifestError, read_manifest
args = json.loads(sys.argv[1])
start = time.monotonic()
try:
    read_manifest(*args["args"], **args["kwargs"])
    message = None
except ManifestError as e:
    message = str(e)
print(json.dumps({"message": message, "seconds": time.monotonic() - start}))
"""


def read_in_subprocess(*args, **kwargs) -> str:
    """The ManifestError message, from a child process: a regression that blocks on a FIFO or
    reads /dev/zero forever is killed by the timeout instead of hanging the suite."""
    proc = subprocess.run(
        [sys.executable, "-c", _READ_TIMED, json.dumps({"args": args, "kwargs": kwargs})],
        capture_output=True,
        text=True,
        timeout=20,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["message"] is not None, "read without an error"
    assert result["seconds"] < 1, result
    return result["message"]


def test_dev_zero_is_refused_without_being_read():
    assert read_in_subprocess("/dev/zero", manifest_format="csv") == (
        "/dev/zero: is a character device, not a regular file, expected a manifest file (it is "
        "read whole, and this could block or never end)"
    )


def test_a_link_to_dev_zero_is_refused(tmp_path):
    os.symlink("/dev/zero", tmp_path / "clips.csv")
    assert read_in_subprocess(str(tmp_path / "clips.csv")).startswith(
        f"{tmp_path / 'clips.csv'}: is a character device, not a regular file"
    )


@pytest.mark.parametrize("kind", ["csv", "wlasl"])
def test_a_fifo_manifest_is_refused_without_being_opened(tmp_path, kind):
    fifo = tmp_path / ("clips.csv" if kind == "csv" else "WLASL_v0.3.json")
    os.mkfifo(fifo)
    assert read_in_subprocess(str(fifo), str(tmp_path)) == (
        f"{fifo}: is a named pipe (FIFO), not a regular file, expected a manifest file (it is "
        "read whole, and this could block or never end)"
    )


@pytest.mark.parametrize(
    "layout, fifo",
    [
        ("msasl", "MSASL_train.json"),
        ("msasl", "MSASL_classes.json"),
        ("asl_citizen", "splits/val.csv"),
        ("autsl", "train_labels.csv"),
        ("autsl", "SignList_ClassId_TR_EN.csv"),
    ],
)
def test_a_fifo_in_a_release_folder_is_refused(tmp_path, layout, fifo):
    root = tmp_path / layout
    if layout == "msasl":
        write(root / "MSASL_classes.json", '["a"]')
        write(root / "MSASL_train.json", "[]")
    elif layout == "asl_citizen":
        asl_citizen(root, train=["P1,a.mp4,A,x"])
    else:
        write(root / "SignList_ClassId_TR_EN.csv", "ClassId,TR,EN\n0,a,b\n")
        write(root / "train_labels.csv", "signer0_sample1,0\n")
    if (root / fifo).exists():
        os.remove(root / fifo)
    os.mkfifo(root / fifo)
    video_dir = str(tmp_path) if layout == "msasl" else None
    assert read_in_subprocess(str(root), video_dir, manifest_format=layout).startswith(
        f"{root}/{fifo}: is a named pipe (FIFO), not a regular file"
    )


def test_proc_files_are_refused():
    message = read_in_subprocess("/proc/self/status", manifest_format="csv")
    assert message.startswith("/proc/self/status: is /proc/")
    assert message.endswith(
        "a file of the kernel's /proc file system, expected a manifest file (its size is not "
        "known before reading, and some never end)"
    )


def test_a_socket_is_refused(tmp_path):
    path = str(tmp_path / "s.csv")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(path)
        assert error(path).startswith(f"{path}: is a socket, not a regular file")


def test_a_manifest_over_the_size_cap_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.csv"
    with open(path, "wb") as f:
        f.truncate(reading.MAX_MANIFEST_BYTES + 1)  # sparse: no disk used
    assert error(str(path)) == (
        f"{path}: {reading.MAX_MANIFEST_BYTES + 1} bytes, larger than the 1024 MiB a manifest "
        "may be, expected a manifest file"
    )


def test_manifest_links_that_lead_nowhere(tmp_path):
    os.symlink("nothing.csv", tmp_path / "dangling.csv")
    assert error(str(tmp_path / "dangling.csv")) == (
        f"{tmp_path / 'dangling.csv'}: no such file (a dangling symbolic link)"
    )
    os.symlink("loop.csv", tmp_path / "loop.csv")
    assert error(str(tmp_path / "loop.csv")) == (
        f"{tmp_path / 'loop.csv'}: cannot be read: Too many levels of symbolic links, "
        "expected a file"
    )


# ============================================================ 4. videos that are only links
def links(folder, *names):
    """name → a symlink loop for the first, a dangling link for the rest."""
    os.makedirs(folder, exist_ok=True)
    os.symlink(names[0], os.path.join(folder, names[0]))
    for name in names[1:]:
        os.symlink("nowhere/" + name, os.path.join(folder, name))


def test_asl_citizen_links_are_videos_and_absent_nested_names_are_tried(tmp_path):
    root = asl_citizen(
        tmp_path / "ASL_Citizen",
        train=[
            "P1,loop.mp4,A,x",
            "P1,dangling.mp4,A,x",
            "P1,sub/loop.mp4,A,x",
            "P1,sub/dangling.mp4,A,x",
            "P1,sub/absent.mp4,A,x",
        ],
    )
    links(f"{root}/videos", "loop.mp4", "dangling.mp4")
    links(f"{root}/videos/sub", "loop.mp4", "dangling.mp4")
    m = read_manifest(root)
    # A link, looping or dangling, is there: the decoder says what it is, not 'missing_file'.
    assert [c.tried for c in m.clips] == [(), (), (), (), (f"{root}/videos/sub/absent.mp4",)]


def test_wlasl_msasl_autsl_and_folder_count_links_as_videos(tmp_path):
    links(tmp_path / "w", f"{YT}.mp4", "2.mp4")
    data = [{"gloss": "a", "instances": [wlasl_instance("1", "train"), wlasl_instance("2", "val")]}]
    m = read_manifest(write(tmp_path / "w.json", json.dumps(data)), str(tmp_path / "w"))
    assert [(c.layout, c.tried) for c in m.clips] == [("raw", ()), ("processed", ())]

    root = tmp_path / "MS-ASL"
    write(root / "MSASL_classes.json", '["a"]')
    write(root / "MSASL_train.json", f'[{{"url": "youtu.be/{YT}", "start_time": 0, '
                                     f'"end_time": 1, "label": 0}}]')  # fmt: skip
    assert read_manifest(str(root), str(tmp_path / "w")).clips[0].tried == ()

    autsl = tmp_path / "AUTSL"
    write(autsl / "SignList_ClassId_TR_EN.csv", "ClassId,TR,EN\n0,a,b\n")
    write(autsl / "train_labels.csv", "signer0_sample1,0\nsigner0_sample2,0\n")
    links(autsl / "train", "signer0_sample1_color.mp4", "signer0_sample2_color.mp4")
    assert [c.tried for c in read_manifest(str(autsl)).clips] == [(), ()]

    links(tmp_path / "folder" / "gloss", "loop.mp4", "dangling.mp4")
    m = read_manifest(str(tmp_path / "folder"))
    assert sorted(c.clip_id for c in m.clips) == ["gloss/dangling.mp4", "gloss/loop.mp4"]


def test_video_exists_counts_links_locally(tmp_path):
    links(tmp_path, "loop.mp4", "dangling.mp4")
    assert video_paths.video_exists(str(tmp_path / "loop.mp4"))
    assert video_paths.video_exists(str(tmp_path / "dangling.mp4"))
    assert not video_paths.video_exists(str(tmp_path / "absent.mp4"))


def test_reading_stops_one_byte_past_the_cap(monkeypatch):
    """A file that grows while read, or a remote one (no size asked first), is cut there."""
    monkeypatch.setattr(reading, "MAX_MANIFEST_BYTES", 5)
    assert reading._read_bounded(io.BytesIO(b"0123456789")) == b"012345"
    assert reading._read_bounded(io.BytesIO(b"0123")) == b"0123"
