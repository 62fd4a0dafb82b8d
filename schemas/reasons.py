"""Why a clip has no record: the `reason` of its errors.jsonl row (docs/design.md, "Output
folder").

Part of the record contract: coverage.json and the run's summary count failures by these
strings, and users filter errors.jsonl by them, so a value never changes once written. Every
module that fails a clip names its reason with a constant from here. Plain strings, no
TensorFlow or numpy: the decoding process imports this.
"""

from __future__ import annotations

# The file itself (preprocess.video.files: looked at with stat() before anything opens it).
MISSING_FILE = "missing_file"  # no such path, a dangling symlink (the detail names its target),
# or a WLASL instance whose video is in none of the places tried (the row's `tried`)
EMPTY_FILE = "empty_file"  # the file has 0 bytes
UNREADABLE_FILE = "unreadable_file"  # exists but cannot be read: permissions, a folder, a symlink
# loop, an I/O error
NOT_A_REGULAR_FILE = "not_a_regular_file"  # a FIFO, a device, a socket, or a /proc-like file that
# says it has 0 bytes (never opened: a FIFO would block)

# The container and its stream.
NOT_A_VIDEO = "not_a_video"  # FFmpeg recognises no container format in it (text, HTML, junk)
TRUNCATED = "truncated"  # the file ends before its own data does: an MP4/MOV box or sample index
# reaching past the end of the file, an MP4/MOV without its moov index, a RIFF or Matroska size
# past the end, or a stream ending well before its declared duration
NO_VIDEO_STREAM = "no_video_stream"  # a container with no video stream (audio only, an SWF
# vector animation)
UNSUPPORTED_CODEC = "unsupported_codec"  # no decoder for the video stream's codec
UNSUPPORTED_ROTATION = "unsupported_rotation"  # display metadata other than a multiple of 90
# degrees (with optional flip)

# Decoding the frames.
DECODE_FAILED = "decode_failed"  # the demuxer or decoder reported an error reading the frames
# (also: a decoder bug, or frames the encoder refused; the detail names the exception)
CORRUPT_FRAME = "corrupt_frame"  # a sampled frame is itself damaged: flagged corrupt by the
# decoder, or FFmpeg logged an error or concealment decoding it
DAMAGED_REFERENCE = "damaged_reference"  # a sampled frame is predicted from a frame FFmpeg
# reported damaged, with no clean key frame between them (the row's damaged_frame: its display
# index, -1 if it is shown later; damaged_packet: its packet in decode order)
NO_FRAMES = "no_frames"  # the video stream decodes to zero frames
NO_TIMESTAMPS = "no_timestamps"  # a time rule needs frame times and the file has none

# The clip's window and crop.
CROP_OUTSIDE_FRAME = "crop_outside_frame"  # the crop box does not overlap the displayed frame
RANGE_PAST_END = "range_past_end"  # the window starts after the video's last frame (the row
# holds the window, the decoded frame count and the duration)

# The decoding process (preprocess.video.isolation).
DECODER_CRASHED = "decoder_crashed"  # it died while decoding (a signal such as SIGSEGV, or the
# kernel's OOM killer); it is started again for the next clip
TIMEOUT = "timeout"  # no result within --clip_timeout_s per clip; it is killed and started again
TOO_LARGE = "too_large"  # the header declares frames or a length over --clip_memory_mb or
# --max_video_frames (checked before decoding), or decoding ran out of the process's address space

REASONS = (
    MISSING_FILE,
    EMPTY_FILE,
    UNREADABLE_FILE,
    NOT_A_REGULAR_FILE,
    NOT_A_VIDEO,
    TRUNCATED,
    NO_VIDEO_STREAM,
    UNSUPPORTED_CODEC,
    UNSUPPORTED_ROTATION,
    DECODE_FAILED,
    CORRUPT_FRAME,
    DAMAGED_REFERENCE,
    NO_FRAMES,
    NO_TIMESTAMPS,
    CROP_OUTSIDE_FRAME,
    RANGE_PAST_END,
    DECODER_CRASHED,
    TIMEOUT,
    TOO_LARGE,
)
