"""What the training commands share at the console: a quiet start, --help, errors and Ctrl-C.

Every command (`python -m training`, `training.evaluate`, `training.predict`, `training.curves`
and their `aslvid2gloss-*` console scripts) starts through `run`, so they behave alike:

- `--help` lists every flag of the command with its default, without importing TensorFlow (the
  flags live in modules that do not import it);
- the console shows our own lines only: TensorFlow's C++ start-up lines, framework INFO lines
  and Python warnings from libraries are hidden, and `--verbosity=debug` brings them back;
- an error is one `error:` line (with its cause), and a traceback with `--verbosity=debug`;
- Ctrl-C prints one line saying what the same command does when run again, exit status 130.

The verbosity names, the TensorFlow log levels and the line format are schemas/console.py's,
shared with preprocess and training.inspect; what is absl's (its handler, --help, app.run) is here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import warnings
from typing import Callable

from absl import app, flags
from absl import logging as absl_logging

from schemas import console as shared

# absl's --verbosity takes numbers; these names are accepted too (--verbosity=debug).
VERBOSITY_NAMES = {name: str(number) for name, number in shared.ABSL_VERBOSITIES.items()}
FRAMEWORK_LOGGERS = ("tensorflow", "keras", "h5py", "matplotlib", "PIL", "absl")
FRAMEWORK_MODULES = r"(tensorflow|keras|tf_keras|h5py|google|absl|matplotlib|numpy)(\.|$)"
INTERRUPTED = 130  # the shell's status for a command ended by SIGINT
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUR_FOLDERS = tuple(os.path.join(_REPO, p) for p in ("training", "schemas", "preprocess"))

log = logging.getLogger(__name__)


def debug() -> bool:
    """True when the command runs with --verbosity=debug (or any level >= 1)."""
    return flags.FLAGS.is_parsed() and flags.FLAGS.verbosity >= 1


def translate_verbosity(argv: list[str]) -> list[str]:
    """--verbosity=debug → --verbosity=1 (absl's own flag knows numbers only)."""
    out = []
    for arg in argv:
        for prefix in ("--verbosity=", "-v="):
            if arg.startswith(prefix) and arg[len(prefix) :].lower() in VERBOSITY_NAMES:
                arg = prefix + VERBOSITY_NAMES[arg[len(prefix) :].lower()]
        out.append(arg)
    return out


def quiet_logs() -> None:
    """Before TensorFlow is imported: its C++ logs, framework INFO lines, library warnings."""
    if debug():
        shared.quiet_tensorflow_cpp(None)
        return
    # Not even C++ ERROR lines (a CPU machine logs "failed call to cuInit" as one); real
    # failures reach Python as exceptions, and the CLI prints those.
    shared.quiet_tensorflow_cpp(shared.TF_CPP_SILENT)
    absl_logging.set_verbosity(absl_logging.INFO)  # our own INFO lines: what the run is doing
    handler = absl_logging.get_absl_handler()
    if not any(isinstance(f, OwnLinesOnly) for f in handler.filters):
        handler.addFilter(OwnLinesOnly())
    # Plain lines ("warning: ..."); absl's prefix (time, thread, file:line) comes with debug.
    handler.setFormatter(shared.PlainLines())
    for name in FRAMEWORK_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=FRAMEWORK_MODULES)


class OwnLinesOnly(logging.Filter):
    """Lets through our packages' lines, and the warnings and errors of everyone else.

    TensorFlow and Keras log INFO lines through absl too ("Writing fingerprint to ...",
    "Sharding callback duration"); they say nothing a user can act on.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        path = os.path.abspath(record.pathname)
        return any(path.startswith(folder + os.sep) for folder in OUR_FOLDERS)


@contextlib.contextmanager
def native_stderr_hidden(hide: bool = True):
    """Sends what C++ code writes to stderr (fd 2) to a file while the block runs.

    TensorFlow's native libraries log a few lines while they load ("All log messages before
    absl::InitializeLog() is called are written to STDERR", oneDNN, CUDA probes) before any
    log level applies; they are shown after all if the block fails.
    """
    if not hide:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow() -> None:
    """Imports TensorFlow and Keras once, quietly unless --verbosity=debug."""
    quiet_logs()
    with native_stderr_hidden(not debug()):
        import keras  # noqa: F401
        import tensorflow as tf

    if not debug():
        tf.get_logger().setLevel(logging.ERROR)


def describe(error: BaseException) -> str:
    """One line: the error's message, and its cause where the message does not already say it."""
    text = str(error) or type(error).__name__
    cause = error.__cause__
    if cause is not None and str(cause) and str(cause) not in text:
        text += f" (caused by {type(cause).__name__}: {cause})"
    return " ".join(text.split())


def exit_status(error: BaseException) -> int:
    """2 for bad input (a flag, a file, data that does not fit), 1 for everything else."""
    return 2 if isinstance(error, (ValueError, FileNotFoundError)) else 1


def _list_flags_in_help(names: list[str]) -> None:
    """`--help` lists the key flags of the main module, which absl finds by sys.argv[0]: that is
    training/__main__.py under `python -m` but bin/aslvid2gloss-train for a console script, so the
    command's flags are declared key flags of whichever it is."""
    fv = flags.FLAGS
    for name in [*names, "verbosity"]:
        fv.register_key_flag_for_module(sys.argv[0], fv[name])
    main_module = sys.modules.get("__main__")
    if main_module is not None and not getattr(main_module, "__doc__", None):
        main_module.__doc__ = _usage_doc  # absl prints it above the flags


_usage_doc = ""


def run(
    main: Callable[[list[str]], int | None],
    define_flags: Callable[[], None],
    doc: str,
    on_interrupt: Callable[[], str] = lambda: "interrupted; nothing was written",
) -> None:
    """Defines the command's flags and runs `main` under absl with the behaviour above.

    Args:
      main: the command's body; returns an exit status (None: 0).
      define_flags: defines the command's flags on absl's FLAGS.
      doc: the command's usage text (its module docstring), printed by --help.
      on_interrupt: the line printed on Ctrl-C: what running the same command again does.
    """
    global _usage_doc
    before = set(flags.FLAGS)
    define_flags()
    _usage_doc = doc
    _list_flags_in_help(sorted(set(flags.FLAGS) - before))

    def guarded_main(argv):
        try:
            return main(argv)
        except KeyboardInterrupt:
            print(f"\n{on_interrupt()}", file=sys.stderr, flush=True)
            sys.exit(INTERRUPTED)
        except (app.UsageError, SystemExit):
            raise
        except Exception as e:
            if debug():
                raise  # the full traceback, causes included
            print(f"error: {describe(e)}", file=sys.stderr, flush=True)
            sys.exit(exit_status(e))

    app.run(
        guarded_main,
        flags_parser=lambda argv: app.parse_flags_with_usage(translate_verbosity(argv)),
    )
