"""Benchmarks, not tests: `python -m bench.run_suite` and the scripts it runs."""

import os

# numpy's OpenBLAS worker threads (no measured method calls BLAS) otherwise spin on the
# second core of a 2-core machine after an import that used them. Set before numpy loads:
# `python -m bench.X` imports this package first.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
