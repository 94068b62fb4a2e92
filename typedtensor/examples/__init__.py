"""Runnable examples: ``python -m typedtensor.examples.quickstart``."""
