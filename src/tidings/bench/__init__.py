"""Benchmarks behind `tidings bench NAME`."""
