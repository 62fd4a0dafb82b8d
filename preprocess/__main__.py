"""`python -m preprocess` and the `aslvid2gloss-preprocess` script (flags: preprocess/flags.py).

The console is set up first: Beam and TensorFlow log while they are imported.
"""

import sys


def main() -> int:
    from schemas import console

    console.set_up(console.verbosity_from_argv(sys.argv[1:]))
    from preprocess.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
