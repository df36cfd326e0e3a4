"""What the benchmark server needs besides the portal: its settings, URLs and minimal page.

It sits in a package of its own because `make bench` runs every bench/*.py as a benchmark.
"""
