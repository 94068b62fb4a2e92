"""``LoadReport``, what loading a checkpoint file did, and ``Naming``, the key names it uses: the names
``Module``'s signatures need, kept apart from the format code (which loads on a module's first save or load)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["LoadReport", "Naming"]

#: The key names of a state dict or a file: typedtensor's own, or PyTorch's.
Naming = Literal["typedtensor", "torch"]


@dataclass(frozen=True)
class LoadReport:
    """Returned by ``Module.load_npz`` and ``Module.load_safetensors``.

    Attributes:
        missing: keys the module has and the file lacks (only with ``strict=False``; they kept their values).
        unexpected: keys, and ``typedtensor.hparams.*`` metadata entries, of the file that the module has
            no place for (only with ``strict=False``; ignored).
        hparams: the hyper-parameters restored from the file, by dotted name (``{"bn1.eps": 0.001}``).
        metadata: the file's string metadata, typedtensor's entries (``typedtensor.version``...) and any
            other (``save_safetensors(path, metadata=...)``, PyTorch's ``format``).
    """

    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    hparams: Mapping[str, object]
    metadata: Mapping[str, str]
