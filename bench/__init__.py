"""Benchmarks: `make bench` runs every bench/bench_*.py as a module, from the repository's
root (`python -m bench.bench_invoices`); this file does nothing."""
