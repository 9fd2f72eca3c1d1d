"""Print where the installed onnxruntime wheel keeps its library or sample models.

Used by the Makefile to point the C++ core tests at a real runtime. The lookup is fastort's
own (python/fastort/_ort_wheel.py), loaded from the source tree by its path: importing the
fastort package would load the runtime and need the extension built, which the core's tests
do not.

    python scripts/ort_paths.py library    # .../onnxruntime/capi/libonnxruntime.so.1.x.y
    python scripts/ort_paths.py datasets   # .../onnxruntime/datasets
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

LOOKUP = Path(__file__).resolve().parent.parent / "python" / "fastort" / "_ort_wheel.py"


def lookup() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fastort_ort_wheel", LOOKUP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what not in ("library", "datasets"):
        print("usage: ort_paths.py library|datasets", file=sys.stderr)
        return 2
    wheel = lookup()
    try:
        print(wheel.find_library() if what == "library" else wheel.datasets_dir())
    except (ImportError, FileNotFoundError) as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
