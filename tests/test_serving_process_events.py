"""The serving engine at process events: exit without close, exit during callbacks, fork."""

from __future__ import annotations

import os

import pytest

from isolated import UNDER_ASAN, describe, run_python
from models import mlp_model


@pytest.mark.skipif(
    UNDER_ASAN,
    reason="AddressSanitizer's runtime fails its own CHECK when a daemon thread throws while "
    "the process exits",
)
def test_exit_without_close_is_clean(add_path):
    process = run_python(
        """
        import sys, threading, numpy as np, fastort
        session = fastort.Session(sys.argv[1])
        batcher = fastort.Batcher(session, max_delay_ms=50)
        x = np.ones((2, 3), np.float32)
        batcher.submit({"x": x, "y": x}).add_done_callback(lambda f: None)

        def client():
            while True:
                batcher.submit({"x": x, "y": x}).result()

        def runner():
            while True:
                batcher.run({"x": x, "y": x})

        threading.Thread(target=client, daemon=True).start()
        threading.Thread(target=runner, daemon=True).start()
        for _ in range(50):
            batcher.submit({"x": x, "y": x})
        print("bye")
        """,
        add_path,
        timeout=60,
    )
    assert process.returncode == 0 and "bye" in process.stdout, describe(process)


# Where the workers are when the interpreter exits: waiting for the GIL to run a done-callback
# (the main thread keeps it until it exits), or inside one, running Python code that gives the
# GIL up and takes it back.
EXIT_DURING_CALLBACKS = {
    "waiting": """
        for _ in range(20):
            batcher.submit({"x": x}).add_done_callback(print)
        sys.setswitchinterval(1000)
        began = time.perf_counter()
        while time.perf_counter() - began < 0.5:
            pass
    """,
    "running": """
        started = threading.Event()

        def callback(future):
            started.set()
            began = time.perf_counter()
            while time.perf_counter() - began < 2:
                pass

        for _ in range(3):
            future = batcher.submit({"x": x})
            future.add_done_callback(callback)
            future.add_done_callback(print)
        assert started.wait(30)
    """,
}


@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("where", sorted(EXIT_DURING_CALLBACKS))
def test_exit_during_done_callbacks_is_clean(save, workers, where):
    # Python ends a thread that takes the GIL back once the interpreter shuts down, by unwinding
    # it without the GIL: the batcher's teardown must not wait for such a worker (it hung), and
    # nothing may be released on the worker's way out (it crashed).
    process = run_python(
        """
        import sys, textwrap, threading, time, numpy as np, fastort
        session = fastort.Session(sys.argv[1], threads=1)
        batcher = fastort.Batcher(session, workers=int(sys.argv[2]))
        x = np.ones((64, 256), np.float32)
        exec(textwrap.dedent(sys.argv[3]))
        print("bye")
        """,
        save(mlp_model(width=256, layers=12), "slow.onnx"),
        str(workers),
        EXIT_DURING_CALLBACKS[where],
        timeout=60,
    )
    assert process.returncode == 0 and "bye" in process.stdout, describe(process)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_fork_leaves_the_child_able_to_make_its_own(add_path):
    process = run_python(
        """
        import os, sys, warnings, numpy as np, fastort
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads
        x = np.ones((2, 3), np.float32)
        session = fastort.Session(sys.argv[1])
        batcher = fastort.Batcher(session)
        batcher.submit({"x": x, "y": x}).result()
        pid = os.fork()
        if pid == 0:
            try:
                batcher.submit({"x": x, "y": x})
                os._exit(3)
            except fastort.FastortError as error:
                assert "fork" in str(error)
            with fastort.Batcher(fastort.Session(sys.argv[1])) as own:
                z, _ = own.submit({"x": x, "y": x}).result(timeout=30)
                assert (z == 2).all()
            batcher.close()  # the parent's: no workers here to wait for
            with batcher:
                pass
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        z, _ = batcher.submit({"x": x, "y": x}).result(timeout=30)
        assert (z == 2).all()
        batcher.close()
        print("ok")
        """,
        add_path,
        timeout=60,
    )
    assert process.returncode == 0 and "ok" in process.stdout, describe(process)
