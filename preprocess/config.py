"""The preprocess job's configuration: everything it needs besides the clips.

Built from the flags at the edge (preprocess/flags.py) and passed whole to the steps that need
it (preprocess/decode_step.py, preprocess/shards.py, preprocess/run_stats.py).
"""

from __future__ import annotations

import dataclasses

from preprocess.video.limits import ClipLimits
from schemas import dataset_info as info_files
from schemas.features import ClipSchema

DEFAULT_TARGET_SHARD_MB = 150  # 100–200 MB a shard streams well from local disks and GCS.


@dataclasses.dataclass(frozen=True)
class PreprocessConfig:
    """Everything the pipeline needs besides the clips; built from flags at the edge."""

    output_dir: str
    schema: ClipSchema = ClipSchema()
    compression: str = ""  # '' or 'GZIP'
    decoder: str = "pyav"
    crop_bbox: bool = False
    target_shard_bytes: int = DEFAULT_TARGET_SHARD_MB * 1_000_000
    num_shards: int = 0  # per split; 0 chooses from the data size
    limits: ClipLimits = ClipLimits()  # per clip: time, memory, declared length
    decoder_threads: int = 0  # FFmpeg threads per clip; 0 = one per core
    # Encode the frames in the decoding process (a tenth of the bytes cross its pipe); PNG,
    # which needs TensorFlow, is always encoded by the worker (schemas/jpeg.py says why).
    encode_in_decoder: bool = True
    # Videos each worker decodes at once, each in its own decoding process: a local run is one
    # Beam worker (docs/design.md, "Local runs") that keeps every core busy this way.
    decode_parallelism: int = 1

    def __post_init__(self):
        if self.compression not in info_files.COMPRESSIONS:
            raise ValueError(f"compression must be '' or 'GZIP', got {self.compression!r}")
        if self.target_shard_bytes <= 0:
            raise ValueError(f"target_shard_bytes must be positive, got {self.target_shard_bytes}")
        if self.num_shards < 0:
            raise ValueError(f"num_shards must be >= 0, got {self.num_shards}")
        if self.decode_parallelism < 1:
            raise ValueError(f"decode_parallelism must be >= 1, got {self.decode_parallelism}")
