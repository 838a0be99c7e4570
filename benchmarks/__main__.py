"""Run a benchmark: ``python -m benchmarks foundation [--rows N]``."""

from __future__ import annotations

import argparse
import importlib

BENCHMARKS = {
    "foundation": "benchmarks.bench_foundation",
    "distributed": "benchmarks.bench_distributed",
    "quota": "benchmarks.bench_quota",
    "matching": "benchmarks.bench_matching",
    "images": "benchmarks.bench_images",
    "api": "benchmarks.bench_api",
    "reprice": "benchmarks.bench_reprice",
    "marketplaces": "benchmarks.bench_marketplaces",
    "mix": "benchmarks.bench_mix",
    "pipeline": "benchmarks.bench_pipeline",
    "titles": "benchmarks.bench_titles",
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("name", choices=sorted(BENCHMARKS))
    args, rest = parser.parse_known_args()
    module = importlib.import_module(BENCHMARKS[args.name])
    module.main(rest)


if __name__ == "__main__":
    main()
