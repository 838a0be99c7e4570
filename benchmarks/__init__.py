"""Benchmarks: `python -m benchmarks NAME` (or `make bench BENCH_ARGS=NAME`). Each prints a ratio against a
baseline measured in the same run."""
