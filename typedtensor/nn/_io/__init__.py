"""Checkpoint files for modules: ``_npz`` and ``_safetensors`` (one file per format) on the shared
validation, metadata and all-or-nothing loading of ``_checkpoint`` and the atomic write of ``_atomic``.
"""
