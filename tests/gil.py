"""Whether native code releases the GIL: count Python steps while it runs in another thread."""

from __future__ import annotations

import threading
from typing import Callable


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
