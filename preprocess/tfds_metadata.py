"""Makes a finished output folder a TFDS dataset: `tfds.builder_from_directory(OUT)` loads it.

Runs in the launcher after the job (workers never import tensorflow-datasets) and writes TFDS's
own metadata files (dataset_info.json, features.json, label.labels.txt) with
`tfds.folder_dataset.write_metadata`, without loading TensorFlow (schemas/tfds_features.py says
how).

The shard names stay ours: TFDS reads them through `schemas.tfds_features.FILENAME_TEMPLATE`.
Split sizes come from dataset.json's per-shard record counts, so nothing is read back. GZIP
shards cannot be read by TFDS: nothing is written for them.
"""

from __future__ import annotations

from preprocess.shards import shard_lengths
from schemas import dataset_info as info_files
from schemas import fileio, layout, tfds_features


def unreadable_reason(info: info_files.DatasetInfo) -> str | None:
    """Why TFDS cannot read this output, or None."""
    if info.compression:
        return f"TFDS cannot read {info.compression} TFRecord shards (use --compression=none)"
    if not any(entry.get("shards") for entry in info.splits.values()):
        return "no shard was written"
    return None


def write_tfds_metadata(output_dir: str, description: str = "") -> None:
    """Writes TFDS's metadata for a finished run; raises ValueError if TFDS cannot read it."""
    import tensorflow_datasets as tfds

    info = info_files.read_dataset_info(output_dir)
    reason = unreadable_reason(info)
    if reason:
        raise ValueError(reason)
    labels = info_files.read_labels(output_dir)
    template = tfds.core.ShardedFileTemplate(
        data_dir=output_dir, template=tfds_features.FILENAME_TEMPLATE
    )
    split_infos = []
    for split, entry in sorted(info.splits.items()):
        num_shards, examples = entry.get("shards", 0), entry.get("examples", 0)
        if not num_shards:
            continue  # every clip of the split failed: no file, so no TFDS split
        names = [layout.shard_name(split, i, num_shards) for i in range(num_shards)]
        num_bytes = sum(fileio.size(layout.join(output_dir, n)) for n in names)
        split_infos.append(
            tfds.core.SplitInfo(
                name=split,
                # Older folders' dataset.json has no shard_lengths: the plan deals them alike.
                shard_lengths=info.shard_lengths.get(split) or shard_lengths(examples, num_shards),
                num_bytes=num_bytes,
                filename_template=template.replace(split=split),
            )
        )
    tfds.folder_dataset.write_metadata(
        data_dir=output_dir,
        features=tfds_features.tfds_features(info.clip, labels),
        split_infos=split_infos,
        filename_template=tfds_features.FILENAME_TEMPLATE,
        check_data=False,  # tests/preprocess/test_tfds_output.py reads folders back
        description=description
        or "Sign-language clips written by aslvid2gloss's preprocess job (see dataset.json).",
    )
