"""Benchmarks: each sub-package runs with ``./smol bench NAME`` and writes bench/results/NAME.json."""
