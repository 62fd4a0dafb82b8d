"""WLASL's raw and processed layouts, a traceable CSV, and format detection, on built releases."""

import os
from fractions import Fraction

import pytest

from preprocess import manifests
from preprocess.manifests import Clip, ManifestError, read_manifest
from schemas.features import CUT_FRAMES, CUT_STATED_RATE, CUT_WHOLE_FILE
from tests.preprocess import dataset_layouts as dl
from tests.preprocess import video_corpus as vc


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    return dl.build_wlasl_raw(tmp_path_factory.mktemp("wlasl_raw"))


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    return dl.build_wlasl_processed(tmp_path_factory.mktemp("wlasl_processed"))


def by_id(manifest):
    return {c.clip_id: c for c in manifest.clips}


def test_raw_layout_shares_the_youtube_file_and_finds_aslpro_swf(raw):
    m = read_manifest(str(raw.manifest), str(raw.video_dir))
    assert (m.format, m.glosses) == ("wlasl", ("book", "drink"))
    clips = by_id(m)
    assert list(clips) == list(raw.expected)
    yt = os.path.join(raw.video_dir, f"{dl.YT_RAW}.mp4")
    assert clips["00102"] == Clip(
        clip_id="00102",
        path=yt,
        gloss="book",
        label=0,
        split="train",
        frame_start=26,
        frame_end=50,
        fps=Fraction(25),
        video_id="00102",
        source="youtube",
        instance_id=1,
        signer_id=1,
        bbox=(0, 0, 96, 64),
        cut=CUT_STATED_RATE,
        rel_path=f"{dl.YT_RAW}.mp4",
        layout="raw",
        url=f"https://youtu.be/{dl.YT_RAW}",
    )
    # Five instances cut from one download, whichever url form names it.
    shared = [c for c in m.clips if c.path == yt]
    assert [c.clip_id for c in shared] == ["00101", "00102", "00103", "00104", "00105"]
    assert {(c.layout, c.cut, c.tried) for c in shared} == {("raw", CUT_STATED_RATE, ())}
    swf = clips["65001"]
    assert (swf.path, swf.rel_path, swf.layout, swf.cut, swf.source) == (
        os.path.join(raw.video_dir, "65001.swf"),
        "65001.swf",
        "processed",  # named by its video_id, as the downloader saves aslpro files
        CUT_STATED_RATE,
        "aslpro",
    )


def test_raw_layout_missing_video_names_every_stem_tried(raw):
    clip = by_id(read_manifest(str(raw.manifest), str(raw.video_dir)))["00201"]
    assert clip.path == os.path.join(raw.video_dir, "00201.mp4")
    assert clip.tried == (
        os.path.join(raw.video_dir, "00201.*"),
        os.path.join(raw.video_dir, "NoSuchVid01.*"),
    )
    assert (clip.layout, clip.rel_path) == ("", "00201.mp4")


def test_processed_layout_reads_pre_cut_youtube_files_whole(processed):
    m = read_manifest(str(processed.manifest), str(processed.video_dir))
    clips = by_id(m)
    assert clips["00301"] == Clip(
        clip_id="00301",
        path=os.path.join(processed.video_dir, "00301.mp4"),
        gloss="hello",
        label=0,
        frame_start=11,  # kept for the record; the file is already frames 11..40
        frame_end=40,
        fps=Fraction(25),
        video_id="00301",
        source="youtube",
        instance_id=0,
        signer_id=1,
        bbox=(0, 0, 96, 64),
        cut=CUT_WHOLE_FILE,
        rel_path="00301.mp4",
        layout="processed",
        url=f"https://www.youtube.com/watch?v={dl.YT_RAW}",
    )
    # Not YouTube, or YouTube copied uncut (frame_end -1): the range applies to the file.
    for clip_id in ("00302", "00303", "00304"):
        assert (clips[clip_id].cut, clips[clip_id].layout) == (CUT_STATED_RATE, "processed")


def test_processed_file_wins_over_the_raw_one_and_no_fps_means_file_frames(tmp_path):
    """Both layouts in one folder: the instance's own file is the pre-cut one."""
    dl.write_indexed(tmp_path / "videos" / f"{dl.YT_RAW}.mp4", range(5), "30")
    dl.write_indexed(tmp_path / "videos" / "7.mp4", range(5), "25")
    url = f"https://www.youtube.com/watch?v={dl.YT_RAW}&t=3"
    inst = dl._wlasl_instance("7", "train", 2, 4, url, "youtube")
    nofps = dict(dl._wlasl_instance("8", "train", 2, 4, url, "youtube", instance_id=1))
    del nofps["fps"]
    path = dl._write_wlasl(tmp_path, [("a", [inst, nofps])])
    seven, eight = read_manifest(str(path), str(tmp_path / "videos")).clips
    assert (seven.rel_path, seven.cut, seven.layout) == ("7.mp4", CUT_WHOLE_FILE, "processed")
    # Without WLASL's fps field the range counts the file's own frames, as before.
    assert (eight.rel_path, eight.cut, eight.layout, eight.fps) == (
        f"{dl.YT_RAW}.mp4",
        CUT_FRAMES,
        "raw",
        None,
    )


def test_a_raw_file_shared_is_fine_but_a_video_id_twice_is_not(tmp_path):
    url = f"https://www.youtube.com/watch?v={dl.YT_RAW}"
    a = dl._wlasl_instance("1", "train", 1, 10, url, "youtube")
    b = dl._wlasl_instance("1", "val", 11, 20, url, "youtube", instance_id=1)
    (tmp_path / "v").mkdir()
    path = dl._write_wlasl(tmp_path, [("a", [a, b])])
    with pytest.raises(ManifestError, match=r"instance 1: field 'video_id' is '1', expected a "):
        read_manifest(str(path), str(tmp_path / "v"))


def test_youtube_id_without_v_is_the_urls_last_11_characters_as_wlasl_takes_it(tmp_path):
    dl.write_indexed(tmp_path / "v" / f"{dl.YT_RAW}.mkv", range(3), "30")
    url = f"https://www.youtube.com/embed/{dl.YT_RAW}"
    path = dl._write_wlasl(tmp_path, [("a", [dl._wlasl_instance("1", "train", 1, 2, url, "")])])
    (clip,) = read_manifest(str(path), str(tmp_path / "v")).clips
    assert (clip.rel_path, clip.layout) == (f"{dl.YT_RAW}.mkv", "raw")


def test_wlasl_url_must_be_text(tmp_path):
    inst = dl._wlasl_instance("1", "train", 1, 10, 42, "youtube")
    (tmp_path / "v").mkdir()
    path = dl._write_wlasl(tmp_path, [("a", [inst])])
    with pytest.raises(ManifestError, match=r"instance 0: field 'url' is 42, expected a string"):
        read_manifest(str(path), str(tmp_path / "v"))


def test_csv_without_video_id_is_traced_to_its_file(tmp_path):
    layout = dl.build_csv(tmp_path)
    m = read_manifest(str(layout.manifest))
    assert m.format == "csv"
    whole, cut = m.clips
    assert list(layout.expected) == [whole.clip_id, cut.clip_id]
    assert (whole.video_id, whole.rel_path, whole.path, whole.cut) == (
        "hello_take1",
        "clips/signer 2/hello_take1.mp4",
        str(tmp_path / "clips" / "signer 2" / "hello_take1.mp4"),
        CUT_FRAMES,
    )
    assert (cut.video_id, cut.frame_start, cut.frame_end) == ("hello_take1", 31, 60)


def test_layout_videos_hold_the_frames_the_answers_are_computed_from(raw, processed):
    """The builders' own check: ffmpeg's decode of every video shows the indices written."""
    swf = vc.reference_decode(raw.videos["65001.swf"], vc.WIDTH, vc.HEIGHT)
    assert swf.indices == tuple(range(30))
    cut = vc.reference_decode(processed.videos["00301.mp4"], vc.WIDTH, vc.HEIGHT)
    assert cut.indices == tuple(range(10, 40))
    assert cut.times[1] == Fraction(1, 25)
    past = raw.expected["00104"]  # frames 60..100 at 25 fps on a 3-s file: [2.36 s, 4 s)
    assert (past.frames[0], past.frames[-1], past.clamped) == (71, 89, True)
    assert processed.expected["00303"].frames[0] == 15  # 0.48 s at 30 fps: frame 14.4 → 15


@pytest.mark.parametrize(
    "build, fmt",
    [
        (dl.build_msasl, "msasl"),
        (dl.build_asl_citizen, "asl_citizen"),
        (dl.build_autsl, "autsl"),
        (dl.build_csv, "csv"),
        (dl.build_wlasl_processed, "wlasl"),
    ],
)
def test_format_is_detected_from_what_manifest_points_at(tmp_path, build, fmt):
    layout = build(tmp_path)
    assert manifests.detect_format(str(layout.manifest)) == fmt


def test_detection_falls_back_to_a_gloss_folder_and_the_flag_overrides_it(tmp_path):
    dl.write_indexed(tmp_path / "root" / "hello" / "a.mp4", range(3), "30")
    assert manifests.detect_format(str(tmp_path / "root")) == "folder"
    with pytest.raises(ManifestError, match="unknown manifest_format 'wlasl2'"):
        read_manifest(str(tmp_path / "root"), manifest_format="wlasl2")
    with pytest.raises(ManifestError, match="expected the MS-ASL folder"):
        read_manifest(str(tmp_path / "root" / "hello" / "a.mp4"), manifest_format="msasl")
    m = read_manifest(str(tmp_path / "root"), manifest_format="folder")
    assert (m.format, m.clips[0].rel_path, m.clips[0].video_id) == ("folder", "hello/a.mp4", "a")


def test_aslpro_swf_with_flv1_video_decodes_and_a_vector_swf_gets_a_reason(raw):
    """What BUILD.md says about SWF: FFmpeg demuxes the video frames of a SWF (aslpro's are FLV1)
    and nothing of a vector animation, which then fails like any file with no video."""
    from preprocess.video import decoder

    clip = decoder.decode_clip(str(raw.videos["65001.swf"]), num_frames=dl.NUM_FRAMES, size=96)
    assert clip.num_source_frames == 30
    shown = tuple(vc.read_index(frame) for frame in clip.frames)
    assert shown == raw.expected["65001"].frames
    with pytest.raises(decoder.DecodeError) as e:
        decoder.decode_clip(str(raw.videos["65002.swf"]))
    assert e.value.reason == raw.expected["65002"].error == "no_video_stream"
