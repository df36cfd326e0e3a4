"""Benchmarks: `make bench` runs every bench/*.py as a script (this file does nothing)."""
