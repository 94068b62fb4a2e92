"""The package's version, in a module of its own so that code below the facade (``typedtensor``) can name it:
the checkpoint files record it."""

VERSION = "0.1.0"
