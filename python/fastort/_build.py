"""`fastort.build_info()`: what this build of fastort links and uses."""

from __future__ import annotations

from typing import Any

from . import __version__, _core

__all__ = ["build_info"]


def build_info() -> dict[str, Any]:
    """fastort's version and its native parts: the libjpeg-turbo linked for JPEG decoding
    (`libjpeg_turbo`), and the SIMD kernels that library's decoder uses on this CPU
    (`jpeg_simd`: "avx2", "sse2", "neon" or "none"; JSIMD_FORCENONE=1 and JSIMD_FORCESSE2=1
    in the environment, read at the first call, lower it). ONNX Runtime is not loaded for
    this: `fastort.ort_version()` says which one a Session uses."""
    jpeg = _core.jpeg_library()
    return {
        "version": __version__,
        "libjpeg_turbo": jpeg["version"],
        "jpeg_simd": jpeg["simd"],
    }
