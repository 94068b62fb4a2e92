# Minimal stub for numba (it ships no type information): only the names typedtensor uses.
# njit returns the function unchanged as far as types go; prange iterates like range.
from collections.abc import Callable
from typing import Any, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])

__version__: str

def njit(
    *,
    parallel: bool = ...,
    cache: bool = ...,
    fastmath: bool | set[str] = ...,
    nogil: bool = ...,
    boundscheck: bool = ...,
    error_model: str = ...,
) -> Callable[[_F], _F]: ...
def prange(start: int, stop: int = ..., step: int = ..., /) -> range: ...
def get_num_threads() -> int: ...
def set_num_threads(n: int, /) -> None: ...
