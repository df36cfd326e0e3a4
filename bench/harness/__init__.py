"""What the benchmark server needs besides the portal: its settings, URLs and minimal page.

It sits in a package of its own, beside the benchmarks (bench/bench_*.py, which `make bench` runs).
"""
