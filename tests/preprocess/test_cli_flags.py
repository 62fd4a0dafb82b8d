"""The preprocess command line before anything runs: unknown flags, help, verbosity, local mode."""

import os
import re

import pytest
from apache_beam.options.pipeline_options import DirectOptions

from preprocess import flags, runner
from schemas import console

BASE = ["--manifest=m.csv", "--output_dir=out"]


def _beam_args(*args):
    _, beam_args = flags.make_parser().parse_known_args([*BASE, *args])
    return beam_args


@pytest.mark.parametrize(
    "arg, closest",
    [
        ("--top_k_gloses=100", "--top_k_glosses"),
        ("--top_k=100", "--top_k_glosses"),  # a prefix is not an abbreviation here
        ("--num_frame=20", "--num_frames"),
        ("--direct_num_worker=2", "--direct_num_workers"),  # a Beam option, misspelt
        ("--temp_locaton=gs://b/tmp", "--temp_location"),
    ],
)
def test_misspelt_flag_is_refused_naming_the_closest_real_one(arg, closest):
    with pytest.raises(flags.UsageError) as e:
        flags.check_beam_args(_beam_args(arg), flags.make_parser())
    message = str(e.value)
    assert f"unknown flag {arg} (did you mean {closest}?)" in message
    assert "Apache Beam pipeline option" in message


def test_beam_options_and_their_values_pass():
    args = _beam_args(
        "--runner=DataflowRunner", "--project", "my-project", "--region=us-central1",
        "--experiments=use_runner_v2", "--num_workers=3", "--direct_num_workers=2",
        "--job_endpoint=embed", "--environment_type=LOOPBACK", "--save_main_session",
    )  # fmt: skip
    flags.check_beam_args(args, flags.make_parser())  # no error


def test_a_stray_word_is_refused():
    with pytest.raises(flags.UsageError, match="unknown flag stray"):
        flags.check_beam_args(_beam_args("stray"), flags.make_parser())


def test_help_gives_every_flag_a_meaning_and_its_default():
    text = flags.make_parser().format_help()
    body = text.split("\noptions:\n", 1)[1].split("\n\nAny other", 1)[0]
    names = sorted(set(re.findall(r"^  (--\w+)", body, re.M)))
    assert "--top_k_glosses" in names and "--verbosity" in names and len(names) >= 18
    for flag in names:
        entry = body.split(f"  {flag}", 1)[1].split("\n  --", 1)[0]
        assert len(entry.split()) >= 3, f"{flag} has no description"
        assert "default" in entry or "required" in entry, f"{flag} does not say its default"
    assert "(default: 20)" in text and "(default: jpeg)" in text
    assert "beam.apache.org" in text and "--runner" in text  # where Beam's options are


def test_a_local_run_is_one_beam_worker_decoding_a_video_per_core():
    """Beam's threaded mode loses elements under load (docs/design.md, "Local runs"): the default
    is in_memory, one Beam worker, with the cores going to videos decoded at once."""
    cores = len(os.sched_getaffinity(0))  # the cores it may use (test_pipeline pins it to one)
    options = runner.beam_options([])
    direct = options.view_as(DirectOptions)
    assert direct.direct_running_mode == "in_memory"
    assert runner.decode_parallelism(options) == cores
    assert runner.beam_workers(options).view_as(DirectOptions).direct_num_workers == 1
    given = runner.beam_options(["--direct_running_mode=multi_processing"])
    assert given.view_as(DirectOptions).direct_running_mode == "multi_processing"
    assert runner.decode_parallelism(given) == 1  # a worker process per core already
    assert given.view_as(DirectOptions).direct_num_workers == cores
    assert runner.decode_parallelism(runner.beam_options(["--direct_num_workers=3"])) == 3


def test_choosing_the_threaded_mode_warns_once_that_it_loses_clips(caplog):
    options = runner.beam_options(["--direct_running_mode=multi_threading"])
    runner.where(options)
    warned = [r for r in caplog.records if "multi_threading mode loses clips" in r.getMessage()]
    assert len(warned) == 1 and warned[0].levelname == "WARNING"
    caplog.clear()
    runner.where(runner.beam_options([]))
    assert not caplog.records


@pytest.mark.parametrize(
    "text, name",
    [("warning", "warning"), ("-1", "warning"), ("INFO", "info"), ("0", "info"), ("1", "debug")],
)
def test_verbosity_takes_names_and_absl_numbers(text, name):
    assert console.parse_verbosity(text) == name
    assert console.verbosity_from_argv(["--x=1", f"--verbosity={text}"]) == name
    assert console.verbosity_from_argv(["--verbosity", text]) == name


# Lines a local run printed before the console was quiet (TF 2.21, Beam 2.77).
NOISE = """\
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1796038386.670116    7190 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
I0000 00:00:1796038386.669076    7190 port.cc:153] oneDNN custom operations are on. You may see slightly different numerical results
E0000 00:00:1796038696.295743   20421 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)
To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.
WARNING:root:apitools not found, and bigquery client libraries are not available despite the import not raising an ImportError.
WARNING:__main__:No semi_persistent_directory found:  User registered objects (e.g. schema, logical type) throughregisteries may not be effective
INFO:apache_beam.runners.worker.sdk_worker:Creating insecure control channel for localhost:41333.
INFO:__main__:Python sdk harness starting.""".splitlines()
KEPT = [
    "preprocess: 18 clips of 3 glosses (test 3, train 12, val 3) -> out",
    "warning: out holds an unfinished run of this same command (killed?); starting it again",
    "E0000 00:00:1796038696.295743   20421 gcs_file_system.cc:52] permission denied on gs://b",
    "Traceback (most recent call last):",
    "ERROR:apache_beam.runners.worker.sdk_worker:Error processing instruction 5",
]


def test_console_drops_the_known_noise_and_nothing_else():
    def noise(line):
        return any(p.match(line) for p in console.NOISE)

    assert [line for line in NOISE if not noise(line)] == []
    assert [line for line in KEPT if noise(line)] == []


def test_console_lines_are_plain_and_one_line_without_tracebacks():
    """One line format for every command (schemas/console.py): 'warning: ...', our INFO bare;
    at the default verbosity no traceback, attached or spelt out in a framework's message."""
    import logging

    formatter = console.PlainLines()

    def line(level, exc_info=None):
        record = logging.LogRecord("x", level, __file__, 1, "decoding %s", ("a.mp4",), exc_info)
        return formatter.format(record)

    assert line(logging.INFO) == "decoding a.mp4"
    assert line(logging.WARNING) == "warning: decoding a.mp4"
    try:
        raise OSError("disk full")
    except OSError:
        import sys

        text = line(logging.ERROR, sys.exc_info())
    assert text == "error: decoding a.mp4"
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "step failed: Traceback (most "
                               "recent call last):\n  File x\nOSError", None, None)  # fmt: skip
    assert formatter.format(record) == "error: step failed:"
