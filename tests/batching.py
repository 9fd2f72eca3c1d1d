"""Helpers of the serving engine's tests."""

from __future__ import annotations

import time

import numpy as np

import fastort


def start_long_run(batcher: fastort.Batcher) -> fastort.BatchFuture:
    """Submits a large request and returns once the worker runs it: with one worker, later
    ones queue."""
    long_run = batcher.submit({"x": np.ones((4000, 256), np.float32)})
    deadline = time.monotonic() + 30
    while not long_run.running() and not long_run.done():
        assert time.monotonic() < deadline
        time.sleep(0.0005)
    return long_run
