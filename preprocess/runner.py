"""Where the Beam job runs: local or remote, and how a local run spreads its work.

Every question of the form "is the runner local?" is answered here, from the PipelineOptions that
`beam_options` builds, so the job, the console lines and the decode step cannot disagree.
"""

from __future__ import annotations

from apache_beam.options.pipeline_options import (
    DirectOptions,
    PipelineOptions,
    PortableOptions,
    StandardOptions,
    WorkerOptions,
)

from preprocess.video.cores import usable_cpus

LOCAL_RUNNERS = ("DirectRunner", "direct", "SwitchingDirectRunner", "FnApiRunner")
# A local run is one process and one Beam worker (--direct_running_mode=in_memory) whose decode
# step keeps a video per core in flight, each in its own isolated decoding process (the CPU work
# of a clip happens there, outside the GIL). Beam's threaded mode (multi_threading), the default
# before, loses or corrupts elements between its worker threads under load: clips silently lost
# with exit 0, or the process blown up to 24 GB (docs/design.md, "Local runs").
LOCAL_RUNNING_MODE = "in_memory"


def beam_options(beam_args: list[str]) -> PipelineOptions:
    """Beam's options, defaulting to an offline local run on every core (see `local_runner`)."""
    options = PipelineOptions(beam_args)
    standard = options.view_as(StandardOptions)
    if standard.runner is None:
        standard.runner = "DirectRunner"
    if standard.runner in LOCAL_RUNNERS:
        direct = options.view_as(DirectOptions)
        given = " ".join(beam_args)
        if "--direct_running_mode" not in given:
            direct.direct_running_mode = LOCAL_RUNNING_MODE
        if "--direct_num_workers" not in given:
            direct.direct_num_workers = usable_cpus()
        if "--default_sdk_harness_log_level" not in given:
            # Worker processes otherwise log every bundle at INFO to the user's terminal.
            options.view_as(WorkerOptions).default_sdk_harness_log_level = "WARNING"
    return options


def runs_on_this_machine(options: PipelineOptions) -> bool:
    """Whether the job's workers share this machine's disk (local runners, LOOPBACK workers)."""
    if options.view_as(StandardOptions).runner in LOCAL_RUNNERS:
        return True
    return options.view_as(PortableOptions).environment_type == "LOOPBACK"


def local_runner(options: PipelineOptions):
    """The runner object for a local run, or None to let Beam build the one --runner names.

    Beam's DirectRunner first downloads a Prism binary from the internet and runs the job there
    (offline, it logs the failure and falls back). The FnApiRunner it falls back to is the one
    that honours --direct_running_mode and --direct_num_workers, so a local run uses it directly:
    nothing is fetched, nothing is logged, and multi_processing workers pickle every step as
    Dataflow does. --runner=PrismRunner still picks Prism for those who want it.
    """
    if options.view_as(StandardOptions).runner not in LOCAL_RUNNERS:
        return None
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    return FnApiRunner()


def decode_parallelism(options: PipelineOptions) -> int:
    """Videos one Beam worker decodes at once: --direct_num_workers for the in-process local run
    (Beam itself then runs one worker: `beam_workers`), 1 elsewhere (a worker per core)."""
    if options.view_as(StandardOptions).runner not in LOCAL_RUNNERS:
        return 1
    direct = options.view_as(DirectOptions)
    if direct.direct_running_mode != "in_memory":
        return 1
    return max(1, direct.direct_num_workers or usable_cpus())


def beam_workers(options: PipelineOptions) -> PipelineOptions:
    """The options Beam itself gets: in_memory runs one worker (more is a warning there), the
    parallelism going to the decode step instead (`decode_parallelism`)."""
    direct = options.view_as(DirectOptions)
    if (
        options.view_as(StandardOptions).runner in LOCAL_RUNNERS
        and direct.direct_running_mode == "in_memory"
    ):
        direct.direct_num_workers = 1
    return options


def decoder_threads(options: PipelineOptions) -> int:
    """Decoding threads per clip that keep every core busy without oversubscribing it.

    N workers that each decode with a thread per core fight over the cores: measured, two
    single-threaded workers decode twice as fast as one, while two workers with a thread per
    core gained under 1.5x (BENCHMARKS.md). Dataflow and other runners run a worker process per
    core already.
    """
    if options.view_as(StandardOptions).runner not in LOCAL_RUNNERS:
        return 1
    cores = usable_cpus()
    workers = options.view_as(DirectOptions).direct_num_workers or cores
    return max(1, cores // max(workers, decode_parallelism(options)))
