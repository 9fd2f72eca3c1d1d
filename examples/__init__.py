"""The demo (`python -m examples.demo`) and what it shares with the benchmarks."""
