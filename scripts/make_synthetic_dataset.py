"""Writes the built-in synthetic sign dataset (H.264 videos + WLASL-format JSON).

python scripts/make_synthetic_dataset.py --output_dir=build/demo/data
python scripts/make_synthetic_dataset.py --output_dir=/tmp/syn --num_classes=10 --clips_per_class=30
"""

import argparse

from preprocess.synthetic import MAX_CLASSES, SyntheticConfig, make_dataset


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--num_classes", type=int, default=5, help=f"1 to {MAX_CLASSES}")
    parser.add_argument("--clips_per_class", type=int, default=24)
    parser.add_argument("--width", type=int, default=96)
    parser.add_argument("--height", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        config = SyntheticConfig(
            num_classes=args.num_classes,
            clips_per_class=args.clips_per_class,
            width=args.width,
            height=args.height,
            seed=args.seed,
        )
    except ValueError as e:
        parser.error(str(e))
    manifest = make_dataset(args.output_dir, config)
    print(f"wrote {config.num_classes * config.clips_per_class} videos and {manifest}")


if __name__ == "__main__":
    main()
