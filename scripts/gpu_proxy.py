"""The GPU proxy on a machine with JAX and no TensorFlow (the device machines): see BENCHMARKS.md.

    KERAS_BACKEND=jax python scripts/gpu_proxy.py --json_out=build/bench/gpu.json --budget_s=420
    KERAS_BACKEND=jax python scripts/gpu_proxy.py --quick      # seconds on a CPU: a check it runs

Prints the table and writes every measurement to --json_out (rewritten after each setting).
"""

import argparse
import logging
import os
import sys

if __name__ == "__main__" and __package__ is None:
    # Run as a file: make the project importable without installing it.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny clips, batches 2 and 4")
    parser.add_argument("--json_out", default=None, help="default: build/bench/gpu[-quick].json")
    parser.add_argument("--batch_sizes", default=None, help="comma-separated, default 2..256")
    parser.add_argument("--variants", default="stock,fused", help="stock, fused or both")
    parser.add_argument("--precisions", default="float32,bfloat16", help="float32, bfloat16")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per setting")
    parser.add_argument("--min_seconds", type=float, default=None, help="length of a timed run")
    parser.add_argument(
        "--budget_s", type=float, default=0, help="skip settings left after this many seconds"
    )
    return parser


def main(argv=None) -> int:
    args = make_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # Keras picks its backend once, at import: JAX unless the caller chose otherwise.
    os.environ.setdefault("KERAS_BACKEND", "jax")
    from benchmarks import gpu_proxy

    json_out = args.json_out or os.path.join(
        "build", "bench", f"gpu{'-quick' if args.quick else ''}.json"
    )
    options = {"tiny": args.quick, "budget_seconds": args.budget_s, "json_out": json_out}
    if args.batch_sizes:
        options["batch_sizes"] = tuple(int(b) for b in args.batch_sizes.split(","))
    options["variants"] = tuple(v.strip() for v in args.variants.split(",") if v.strip())
    options["precisions"] = tuple(p.strip() for p in args.precisions.split(",") if p.strip())
    if args.repeats:
        options["repeats"] = args.repeats
    if args.min_seconds is not None:
        options["min_seconds"] = args.min_seconds
    elif args.quick:
        options.update(min_seconds=0.05, repeats=args.repeats or 1)
    result = gpu_proxy.run_gpu(gpu_proxy.GpuBenchConfig(**options))
    gpu_proxy.write_json(json_out, result)
    print(gpu_proxy.report_gpu(result))
    print(f"\nwrote {json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
