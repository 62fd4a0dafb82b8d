"""Benchmarks of each stage against its floor and against the original approach (see BENCHMARKS.md).

    python scripts/benchmark.py preprocess --json_out=build/bench/preprocess.json
    python scripts/benchmark.py input --json_out=build/bench/input.json
    python scripts/benchmark.py train --json_out=build/bench/train.json
    KERAS_BACKEND=jax python scripts/benchmark.py gpu --json_out=build/bench/gpu.json  # = gpu_proxy
    python scripts/benchmark.py shared --json_out=build/bench/shared.json  # clips of one video
    python scripts/benchmark.py e2e --json_out=build/bench/e2e.json  # the job vs ffmpeg, end to end
    python scripts/benchmark.py train --tiny     # seconds: small shapes, a check that it runs
    python scripts/benchmark.py summary          # the headline table from the JSON above

Each prints its tables and writes every measurement to --json_out (default build/bench/NAME.json).
"""

import argparse
import json
import logging
import os
import sys

if __name__ == "__main__" and __package__ is None:
    # Run as a file: make the project importable without installing it.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

BENCH_DIR = os.path.join("build", "bench")
STAGES = ("preprocess", "e2e", "shared", "input", "train", "gpu", "summary")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=STAGES)
    parser.add_argument("--tiny", action="store_true", help="small data and shapes: seconds")
    parser.add_argument("--json_out", default=None, help="default: build/bench/STAGE[-tiny].json")
    parser.add_argument("--bench_dir", default=BENCH_DIR, help="summary: where the JSON files are")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved rounds (medians)")
    parser.add_argument("--workdir", default="", help="keep data here (default: a temp folder)")
    parser.add_argument(
        "--batch_sizes", default=None, help="gpu/train: comma-separated batch sizes to time"
    )
    return parser


def main(argv=None) -> int:
    args = make_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    batches = None
    if args.batch_sizes:
        batches = tuple(int(b) for b in args.batch_sizes.split(","))
    extra = {"repeats": args.repeats} if args.repeats else {}
    if args.stage == "summary":
        from benchmarks import summary

        print(summary.report(args.bench_dir))
        return 0
    if args.stage == "gpu":
        # Keras picks its backend once, at import: JAX unless the caller chose otherwise.
        os.environ.setdefault("KERAS_BACKEND", "jax")
        from benchmarks import gpu_proxy

        result = gpu_proxy.run_gpu(
            gpu_proxy.GpuBenchConfig(tiny=args.tiny, batch_sizes=batches, **extra)
        )
        text = gpu_proxy.report_gpu(result)
    elif args.stage == "e2e":
        from benchmarks import end_to_end_bench as eb

        result = eb.run(eb.EndToEndBenchConfig(tiny=args.tiny, workdir=args.workdir, **extra))
        text = eb.report(result)
    elif args.stage == "shared":
        from benchmarks import shared_video_bench as sb

        result = sb.run(sb.SharedVideoBenchConfig(tiny=args.tiny, workdir=args.workdir, **extra))
        text = sb.report(result)
    elif args.stage == "preprocess":
        from benchmarks import preprocess_bench as pb

        config = pb.PreprocessBenchConfig(tiny=args.tiny, workdir=args.workdir, **extra)
        if args.tiny:
            config = pb.PreprocessBenchConfig(
                tiny=True, workdir=args.workdir, scale=2, repeats=args.repeats or 1
            )
        result = pb.run(config)
        text = pb.report(result)
    else:
        from benchmarks import training_bench as tb

        config = tb.TrainBenchConfig(
            tiny=args.tiny, workdir=args.workdir, batch_sizes=batches, **extra
        )
        if args.stage == "input":
            result = tb.run_input(config)
            text = tb.report_input(result)
        else:
            result = tb.run_train(config)
            text = tb.report_train(result)
    json_out = args.json_out or os.path.join(
        BENCH_DIR, f"{args.stage}{'-tiny' if args.tiny else ''}.json"
    )
    os.makedirs(os.path.dirname(os.path.abspath(json_out)), exist_ok=True)
    with open(json_out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1, sort_keys=True, default=str)
    print(text)
    print(f"\nwrote {json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
