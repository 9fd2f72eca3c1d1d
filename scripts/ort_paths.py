"""Print where the installed onnxruntime wheel keeps its library or sample models.

Used by the Makefile to point the C++ core tests at a real runtime, without importing the
onnxruntime module (or fastort, which may not be built yet).

    python scripts/ort_paths.py library    # .../onnxruntime/capi/libonnxruntime.so.1.x.y
    python scripts/ort_paths.py datasets   # .../onnxruntime/datasets
"""

from __future__ import annotations

import importlib.util
import os
import sys


def main() -> int:
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    spec = importlib.util.find_spec("onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        print("onnxruntime is not installed", file=sys.stderr)
        return 1
    root = next(iter(spec.submodule_search_locations))
    if what == "datasets":
        print(os.path.join(root, "datasets"))
        return 0
    if what == "library":
        capi = os.path.join(root, "capi")
        names = [n for n in os.listdir(capi) if n.startswith("libonnxruntime.so")]
        if not names:
            print(f"no libonnxruntime in {capi}", file=sys.stderr)
            return 1
        print(os.path.join(capi, max(names)))
        return 0
    print("usage: ort_paths.py library|datasets", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
