"""The aslvid2gloss distribution: also what Dataflow installs on its workers via --setup_file."""

import setuptools

# Versions that install together on Python 3.11 and were tested together (make test).
REQUIRED = [
    "tensorflow==2.21.0",
    "tensorboard==2.21.0",
    "apache-beam==2.77.0",
    "crcmod==1.7",  # Beam's fast CRC for TFRecord IO
    "google-crc32c==1.7.1",  # our TFRecord framing (schemas/tfrecord_writer.py), hardware CRC
    "av==18.1.0",  # PyAV: FFmpeg bindings with FFmpeg in the wheel; the exact default decoder
    "numpy==2.4.6",
    "absl-py==2.5.1",
    "pillow==12.3.0",  # contact sheets (training.inspect)
    "matplotlib==3.11.2",  # training curves (training.curves)
    "tqdm==4.70.1",  # the preprocess progress line
    "psutil==7.2.2",  # an interrupted preprocess run ends its worker processes
    # TFDS metadata beside the shards (launcher only); 4.9.10 installs with the pins above.
    "tensorflow-datasets==4.9.10",
]

EXTRAS = {
    "dev": [
        "pytest==9.2.0",
        "pytest-xdist==3.8.0",  # make test runs the suite on every core
        "hypothesis==6.170.17",
        "imageio-ffmpeg==0.8.1",  # an ffmpeg CLI to write and check the test corpus
        "ruff==0.17.6",  # lint and format (make test runs it first)
    ],
    # decord is offered because the original stack used it; it is wrong on some codecs (BUILD.md).
    "decord": ["decord==0.6.0"],
    "dataflow": ["apache-beam[gcp]==2.77.0"],
    "gpu": ["tensorflow[and-cuda]==2.21.0"],
}

setuptools.setup(
    name="aslvid2gloss",
    version="0.1.0",
    description=(
        "Sign-language video to gloss: Beam preprocessing to TFRecords and a tf.distribute trainer"
    ),
    python_requires=">=3.11,<3.12",
    # Only what the jobs import: benchmarks/ and scripts/ stay in the repository (test_packaging).
    packages=["schemas", "preprocess", "preprocess.manifests", "preprocess.video", "training"],
    install_requires=REQUIRED,
    extras_require=EXTRAS,
    entry_points={
        "console_scripts": [
            "aslvid2gloss-preprocess=preprocess.__main__:main",
            "aslvid2gloss-train=training.__main__:console_main",
            "aslvid2gloss-evaluate=training.evaluate:console_main",
            "aslvid2gloss-predict=training.predict:console_main",
            "aslvid2gloss-inspect=training.inspect:console_main",
            "aslvid2gloss-curves=training.curves:console_main",
        ],
    },
)
