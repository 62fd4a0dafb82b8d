"""Lets `python -m preprocess` run the job (see preprocess/cli.py for the flags)."""

import os
import sys

# TensorFlow's C++ INFO lines (CPU features, no CUDA) in every worker process hide the summary.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

from preprocess.cli import main  # noqa: E402

sys.exit(main())
