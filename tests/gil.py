"""Whether native code releases the GIL: count Python steps while it runs in another thread."""

from __future__ import annotations

import threading
import time
from typing import Callable

import fastort


def python_steps_during(call: Callable[[], object]) -> int:
    """Loop iterations this thread completes while `call` runs in another thread.

    If `call` held the GIL for its whole native part, this thread could barely run; with the
    GIL released it counts freely (many thousands over tens of milliseconds).
    """
    started = threading.Event()

    def worker() -> None:
        started.set()
        call()

    thread = threading.Thread(target=worker)
    thread.start()
    started.wait()
    steps = 0
    while thread.is_alive():
        steps += 1
    thread.join()
    return steps


def quick_runs() -> int:
    """Runs so far that kept the GIL, being quick (see the README's threads section)."""
    return int(fastort._core.debug_counters()["quick_runs"])


def run_until_quick(call: Callable[[], object], seconds: float = 20.0) -> bool:
    """Calls `call` until one of its runs keeps the GIL: its session has learned that such
    runs are quick. False if none did within `seconds` (a machine too loaded for any run to
    take under 5 us)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        before = quick_runs()
        call()
        if quick_runs() > before:
            return True
    return False
