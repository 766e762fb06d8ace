"""Benchmarks: minnp against named peer codes, measured in one run (``make bench``)."""
