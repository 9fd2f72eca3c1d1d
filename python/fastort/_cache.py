"""The process-wide session cache. (Emptied at exit by `_runtime.load`'s atexit hook.)"""

from __future__ import annotations

from typing import NamedTuple

from . import _core


class CacheInfo(NamedTuple):
    hits: int
    misses: int
    maxsize: int
    currsize: int


def cache_info() -> CacheInfo:
    """Hits, misses, bound and size of the session cache (like functools.lru_cache)."""
    return CacheInfo(*_core.cache_info())


def clear_cache() -> None:
    """Drop every cached session. Live Session objects and outputs keep working."""
    _core.clear_cache()


def set_cache_size(maxsize: int) -> None:
    """Bound the cache to `maxsize` sessions (least recently used go first); 0 disables it."""
    if isinstance(maxsize, bool) or not isinstance(maxsize, int):
        raise _core.InvalidTypeError(f"maxsize must be an int, got {type(maxsize).__name__}")
    if maxsize < 0:
        raise _core.InvalidArgumentError(f"maxsize must be >= 0, got {maxsize}")
    _core.set_cache_size(maxsize)
