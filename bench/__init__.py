"""Micro-benchmarks of typedtensor's run-time checks and gradient tape (run ``python -m bench.checks``)."""
