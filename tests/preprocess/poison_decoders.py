"""A test-only decoder (`--decoder=tests.preprocess.poison_decoders:decode_clip`) that misbehaves
the way poison videos make FFmpeg misbehave, chosen by the file's name; other files decode normally.

    segfault*  a real native segfault (a read of address 0 in C)
    hang*      never returns
    hog*       allocates 2 GiB and touches it
    wait*      decodes once the file PATH.hold is gone (a job stopped at a known point); it
               creates PATH.waiting first, so a test can wait for that point, not sleep
"""

import ctypes
import os
import time

import numpy as np

from preprocess.video import decoder


def decode_clip(path, **kwargs):
    name = os.path.basename(path)
    if name.startswith("segfault"):
        ctypes.string_at(0)
    if name.startswith("hang"):
        time.sleep(3600)
    if name.startswith("hog"):
        np.ones(2 * 2**30, np.uint8)
    if name.startswith("wait"):
        open(path + ".waiting", "w").close()
        while os.path.exists(path + ".hold"):
            time.sleep(0.05)
    return decoder.decode_clip(path, **kwargs)
