"""Where the Beam job runs: local or remote, and how a local run spreads its work.

Every question of the form "is the runner local?" is answered here, from the PipelineOptions that
`beam_options` builds, so the job, the console lines and the decode step cannot disagree.
"""

from __future__ import annotations

import logging

from apache_beam.options.pipeline_options import (
    DirectOptions,
    PipelineOptions,
    PortableOptions,
    StandardOptions,
    WorkerOptions,
)

from preprocess.video.cores import usable_cpus
from schemas import console

LOCAL_RUNNERS = ("DirectRunner", "direct", "SwitchingDirectRunner", "FnApiRunner")
# A local run is one process and one Beam worker (--direct_running_mode=in_memory) whose decode
# step keeps a video per core in flight, each in its own isolated decoding process (the CPU work
# of a clip happens there, outside the GIL). Beam's threaded mode (multi_threading), the default
# before, loses or corrupts elements between its worker threads under load: clips silently lost
# with exit 0, or the process blown up to 24 GB (docs/design.md, "Local runs").
LOCAL_RUNNING_MODE = "in_memory"


# The Beam options this module sets unless the user gave them (`_given`).
_DEFAULTED = ("direct_running_mode", "direct_num_workers", "default_sdk_harness_log_level")


def beam_options(
    beam_args: list[str], verbosity: str = console.DEFAULT_VERBOSITY
) -> PipelineOptions:
    """Beam's options, defaulting to an offline local run on every core (see `local_runner`),
    with the workers' log level following --verbosity unless Beam's own flag says otherwise."""
    options = PipelineOptions(beam_args)
    given = _given(options, _DEFAULTED)
    standard = options.view_as(StandardOptions)
    if standard.runner is None:
        standard.runner = "DirectRunner"
    workers = options.view_as(WorkerOptions)
    if is_local(options):
        direct = options.view_as(DirectOptions)
        if "direct_running_mode" not in given:
            direct.direct_running_mode = LOCAL_RUNNING_MODE
        elif direct.direct_running_mode == "multi_threading":
            logging.warning(
                "Beam's multi_threading mode loses clips under load (docs/design.md, \"Local "
                'runs"); a run that loses one fails. The default (in_memory) does not'
            )
        if "direct_num_workers" not in given:
            direct.direct_num_workers = usable_cpus()
        if "default_sdk_harness_log_level" not in given:
            # Worker processes otherwise log every bundle at INFO to the user's terminal.
            workers.default_sdk_harness_log_level = "WARNING"
    if verbosity != console.DEFAULT_VERBOSITY and "default_sdk_harness_log_level" not in given:
        workers.default_sdk_harness_log_level = verbosity.upper()
    return options


def _given(options: PipelineOptions, names: tuple[str, ...]) -> set[str]:
    """Which of `names` the command line set, whatever the value.

    get_all_options(drop_default=True) cannot tell: it hides --direct_num_workers=1, which
    equals Beam's default but must not become one worker per core. A default no value can equal
    (set through get_all_options' public parser hook) leaves exactly the ones given.
    """
    unset = object()
    values = options.get_all_options(
        add_extra_args_fn=lambda parser: parser.set_defaults(**dict.fromkeys(names, unset))
    )
    return {name for name in names if values[name] is not unset}


def is_local(options: PipelineOptions) -> bool:
    """Whether --runner names a runner of this process (Beam's DirectRunner family)."""
    return options.view_as(StandardOptions).runner in LOCAL_RUNNERS


def where(options: PipelineOptions) -> str:
    """Where and how the job runs, in the words of the run's opening lines."""
    if not is_local(options):
        runner = options.view_as(StandardOptions).runner
        ui = "" if runs_on_this_machine(options) else "; progress: the runner's UI (BUILD.md)"
        return f"on {runner}{ui}"
    direct = options.view_as(DirectOptions)
    n, mode = direct.direct_num_workers, direct.direct_running_mode
    flag = f"(--direct_running_mode={mode})"
    if mode == "in_memory":
        return f"locally in this process, {n} video{'s' if n != 1 else ''} decoded at once {flag}"
    if mode == "multi_threading":
        return f"locally in this process, {n} worker thread{'s' if n != 1 else ''} {flag}"
    return f"locally on {n} worker process{'es' if n != 1 else ''} {flag}"


def runs_on_this_machine(options: PipelineOptions) -> bool:
    """Whether the job's workers share this machine's disk (local runners, LOOPBACK workers)."""
    return is_local(options) or options.view_as(PortableOptions).environment_type == "LOOPBACK"


def local_runner(options: PipelineOptions):
    """The runner object for a local run, or None to let Beam build the one --runner names.

    Beam's DirectRunner first downloads a Prism binary from the internet and runs the job there
    (offline, it logs the failure and falls back). The FnApiRunner it falls back to is the one
    that honours --direct_running_mode and --direct_num_workers, so a local run uses it directly:
    nothing is fetched, nothing is logged, and multi_processing workers pickle every step as
    Dataflow does. --runner=PrismRunner still picks Prism for those who want it.
    """
    if not is_local(options):
        return None
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    return FnApiRunner()


def decode_parallelism(options: PipelineOptions) -> int:
    """Videos one Beam worker decodes at once: --direct_num_workers for the in-process local run
    (Beam itself then runs one worker: `beam_workers`), 1 elsewhere (a worker per core)."""
    if not is_local(options):
        return 1
    direct = options.view_as(DirectOptions)
    if direct.direct_running_mode != "in_memory":
        return 1
    return max(1, direct.direct_num_workers or usable_cpus())


def beam_workers(options: PipelineOptions) -> PipelineOptions:
    """The options Beam itself gets: in_memory runs one worker (more is a warning there), the
    parallelism going to the decode step instead (`decode_parallelism`)."""
    direct = options.view_as(DirectOptions)
    if is_local(options) and direct.direct_running_mode == "in_memory":
        direct.direct_num_workers = 1
    return options


def decoder_threads(options: PipelineOptions) -> int:
    """Decoding threads per clip that keep every core busy without oversubscribing it.

    N workers that each decode with a thread per core fight over the cores: measured, two
    single-threaded workers decode twice as fast as one, while two workers with a thread per
    core gained under 1.5x (BENCHMARKS.md). Dataflow and other runners run a worker process per
    core already.
    """
    if not is_local(options):
        return 1
    cores = usable_cpus()
    # In every local mode this is also the videos decoded at once (`decode_parallelism`).
    workers = options.view_as(DirectOptions).direct_num_workers or cores
    return max(1, cores // workers)
