"""Benchmarks: each module in this package exposing ``run() -> dict`` is one benchmark."""
