"""The parts of ``typedtensor.mypy_plugin`` (imported by mypy only, never at run time)."""
