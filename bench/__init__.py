"""Benchmarks, not tests: `python -m bench.run_suite` and the scripts it runs."""
