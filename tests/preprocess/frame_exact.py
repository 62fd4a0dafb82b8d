"""What "frame-exact" means in the decoder tests: the rule's frames, each ffmpeg's own decode.

Shared by the tests of every decoder (PyAV's, decord's), so none reaches into another's module.
"""

from fractions import Fraction

from preprocess.video import sampling
from tests.preprocess import video_corpus as corpus

# (frame_start, frame_end, fps): the whole file, a range, WLASL's 25-fps numbering, both.
RANGES = [(1, -1, None), (5, 30, None), (1, -1, Fraction(25)), (3, 20, Fraction(25))]


def expected_indices(video, frame_start, frame_end, fps, num_frames=20):
    ref = video.reference
    if fps is None:
        first_last = sampling.frame_range_by_index(frame_start, frame_end, len(ref.indices))
    else:
        first_last = sampling.frame_range_by_time(ref.times, frame_start, frame_end, fps)
    return sampling.sample_indices(*first_last, num_frames)


def assert_frame_exact(clip, video, expected, box=None):
    """Sampled the rule's frames, and each output frame is that frame of ffmpeg's decode."""
    assert clip.frame_indices == expected
    read = [corpus.read_index(f, box or video.box) for f in clip.frames]
    assert read == [video.reference.indices[i] for i in expected]
