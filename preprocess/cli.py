"""`python -m preprocess`: flags in, Beam options through, a summary out.

    python -m preprocess --manifest=build/demo/data/WLASL_v0.3.json \
        --video_dir=build/demo/data/videos --output_dir=/tmp/records
    python -m preprocess --manifest=clips.csv --output_dir=/tmp/records --frame_encoding=png \
        --compression=gzip --direct_num_workers=1
    python -m preprocess --manifest=WLASL_v0.3.json --video_dir=gs://BUCKET/videos \
        --output_dir=gs://BUCKET/records --top_k_glosses=100 --runner=DataflowRunner \
        --project=PROJECT --region=us-central1 --temp_location=gs://BUCKET/tmp \
        --setup_file=./setup.py

Any other flag must be a Beam pipeline option (--runner, --direct_num_workers, --project, …);
anything else is refused before the job starts (exit 2), naming the closest real flag.
Without --runner it runs locally (Beam's FnApiRunner), offline: one process, one Beam worker,
decoding a video per core at once (`LOCAL_RUNNING_MODE`).
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import signal
import sys

from preprocess import job, manifests, outcome, output_folder, output_lock, runner
from preprocess.flags import UsageError, config_from_args, parse_args
from preprocess.summary import summarize
from schemas import console


@dataclasses.dataclass
class RunState:
    """What a run has done so far: what an interrupted run tells the user."""

    output_dir: str = ""
    output_started: bool = False
    report: dict | None = None  # the coverage report, once the launcher's checks have run


def _say(console_out, line: str) -> None:
    if console_out is not None:
        console_out.write_line(line)


def run(argv=None, save_main_session=True, console_out=None, state: RunState | None = None) -> dict:
    """Runs the job; returns dataset.json's content. Raises UsageError / ManifestError on bad input.

    `console_out` (a console.StderrFilter) receives the lines saying what the run does and the
    live progress line; without it the run is silent (tests, library use).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    state = state if state is not None else RunState()
    args, beam_args, splits = parse_args(argv)
    config = config_from_args(args)
    # Every manifest error surfaces here, before any video is opened or any file written.
    manifest = manifests.read_manifest(
        args.manifest,
        args.video_dir,
        manifest_format=args.manifest_format,
        top_k_glosses=args.top_k_glosses,
        splits=splits,
    )
    options = runner.beam_options(beam_args, args.verbosity)
    config = dataclasses.replace(
        config,
        decoder_threads=args.decoder_threads or runner.decoder_threads(options),
        decode_parallelism=runner.decode_parallelism(options),
    )
    for line in job.describe(args.manifest, manifest, options, args.output_dir):
        _say(console_out, line)
    runner.beam_workers(options)
    state.output_dir = args.output_dir
    with output_folder.claimed(args.output_dir, args.overwrite, argv):
        state.output_started = True
        info, state.report = job.write(
            args, argv, config, manifest, options, console_out, save_main_session
        )
        return info


def _stop_workers() -> None:
    """Ends every process this one started (Beam's workers, their decoding children)."""
    import psutil

    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        return
    for child in children:
        try:
            child.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(children, timeout=3)
    for child in alive:
        try:
            child.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=3)


def _interrupted_line(state: RunState) -> str:
    if not state.output_started:
        return "interrupted before anything was written; run the command again to start"
    return (
        f"interrupted: {state.output_dir} holds an unfinished run (no dataset.json); the same "
        "command again starts it over from the beginning (another command refuses the folder "
        "unless given --overwrite)"
    )


def _errno_in(error: BaseException) -> int | None:
    """The errno of the OSError behind `error`: itself, its causes, or (Beam re-raises a worker's
    error as RuntimeError with the text only) '[Errno N]' in its message."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno is not None:
            return error.errno
        found = re.search(r"\[Errno (\d+)\]", str(error))
        if found:
            return int(found.group(1))
        error = error.__cause__ or error.__context__
    return None


def _os_error_line(code: int, error: BaseException, state: RunState) -> str:
    """A failed write or read (errno `code`) in one line: what happened, where, what to do."""
    where = getattr(error, "filename", None) or state.output_dir or "the output folder"
    if code == errno.ENOSPC:
        return (
            f"no space left on device writing {where}; free space and run the same command "
            "again (it starts the run over)"
        )
    return f"{os.strerror(code).lower()}: {where} (--verbosity=debug shows the traceback)"


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbosity = console.verbosity_from_argv(argv)
    console.set_up(verbosity)
    out = console.StderrFilter() if verbosity == console.DEFAULT_VERBOSITY else None
    console_out = (out or console.StderrFilter(noise=())).start()
    state = RunState()

    def interrupt(signum, frame):
        console_out.mute()  # the workers' own last words (tracebacks) are not for the user
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        info = run(argv, console_out=console_out, state=state)
        print(summarize(state.output_dir, info, state.report))
        return 0
    except (UsageError, manifests.ManifestError, output_lock.FolderInUse) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        console_out.mute()
        _stop_workers()
        console_out.terminal.write(_interrupted_line(state) + "\n")
        console_out.terminal.flush()
        sys.stdout.flush()
        # Beam's runner threads may still wait on the workers just ended: leave without them.
        os._exit(130)
    except outcome.RunFailed as e:
        output_dir = state.output_dir
        print(summarize(output_dir, e.info, e.report))
        print(
            f"error: the run failed: {e}. {output_dir} is not marked finished; fix the cause "
            "and run again (the failed run's files are replaced without --overwrite)",
            file=sys.stderr,
        )
        return 1
    except Exception as e:  # noqa: BLE001 - one line; the traceback is for --verbosity=debug
        if verbosity == "debug":
            raise
        code = _errno_in(e)
        if code is not None:
            print(f"error: {_os_error_line(code, e, state)}", file=sys.stderr)
        else:
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            print(f"error: {type(e).__name__}: {first} (--verbosity=debug shows the "
                  "traceback)", file=sys.stderr)  # fmt: skip
        return 1
    finally:
        signal.signal(signal.SIGINT, previous)
        console_out.stop()
