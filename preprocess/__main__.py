"""Lets `python -m preprocess` run the job (see preprocess/cli.py for the flags)."""

import sys

from preprocess.cli import main

sys.exit(main())
