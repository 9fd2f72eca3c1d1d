"""Running one function on many threads at once, for the thread-safety tests."""

from __future__ import annotations

import threading
from typing import Callable


def parallelize(work: Callable[[int], object], threads: int, timeout: float = 120) -> list[object]:
    """Calls work(0) ... work(threads - 1), each on its own thread, all started together.

    Returns what each call returned, in order; re-raises the first exception a call raised
    (with the thread's index), and fails if a thread is still running after `timeout` seconds.
    """
    start = threading.Barrier(threads)
    results: list[object] = [None] * threads
    errors: list[tuple[int, BaseException]] = []

    def run(index: int) -> None:
        try:
            start.wait()
            results[index] = work(index)
        except BaseException as error:
            errors.append((index, error))

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout)
    stuck = [i for i, thread in enumerate(pool) if thread.is_alive()]
    assert not stuck, f"threads {stuck} still running after {timeout} s"
    if errors:
        index, error = errors[0]
        raise AssertionError(f"thread {index} raised {error!r}") from error
    return results
