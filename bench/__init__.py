"""Benchmarks: each module times one job and writes bench/results/<name>.json."""
