"""fork(): a child can load and run sessions, whatever the parent's threads were doing.

Each scenario runs in a child interpreter of its own (forking pytest itself would fork its
threads' state too), and every fork waits with a time limit: a deadlock fails, not hangs.
"""

from __future__ import annotations

import textwrap

import pytest

from isolated import UNDER_ASAN, describe, run_python

# Forks, and reports how each child did: "ok", or why not within the time limit.
FORK = """
import os, sys, time, threading, numpy as np, fastort

def in_child(work, limit=20.0):
    pid = os.fork()
    if pid == 0:
        try:
            work()
            os._exit(0)
        except BaseException as error:
            print("child failed:", repr(error), flush=True)
            os._exit(1)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return "ok" if status == 0 else f"exit status {status}"
        time.sleep(0.002)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return "hung"
"""


def _run(code: str, *args: str) -> str:
    process = run_python(FORK + textwrap.dedent(code), *args, timeout=300)
    assert process.returncode == 0, describe(process)
    return process.stdout


@pytest.mark.slow
@pytest.mark.skipif(
    UNDER_ASAN,
    reason="AddressSanitizer's allocator has no fork handlers: a child can find its lock held",
)
def test_forking_while_other_threads_load_and_run(sigmoid_path):
    # Other threads load sessions, run them and clear the cache without pause; every child
    # must still load and run its own. (A child used to find the lock of ORT's environment,
    # or ORT's own locks inside a load, held by a thread that does not exist in it.)
    out = _run(
        """
        path = sys.argv[1]
        x = np.zeros((3, 4, 5), np.float32)
        stop = False

        def busy():
            while not stop:
                fastort.Session(path, cache=False, threads=1).run(None, {"x": x})
                fastort.clear_cache()
                fastort.Session(path).run(None, {"x": x})

        threads = [threading.Thread(target=busy) for _ in range(3)]
        for thread in threads:
            thread.start()
        outcomes = [in_child(lambda: fastort.Session(path, threads=1).run(None, {"x": x}))
                    for _ in range(300)]
        stop = True
        for thread in threads:
            thread.join()
        print({outcome: outcomes.count(outcome) for outcome in set(outcomes)})
        """,
        sigmoid_path,
    )
    assert out == "{'ok': 300}\n"


def test_what_a_child_inherits(add_path, save):
    from models import endless_model

    endless = save(endless_model(), "endless.onnx")
    out = _run(
        """
        path, endless = sys.argv[1], sys.argv[2]
        ones = np.ones((2, 3), np.float32)
        inherited = fastort.Session(path)  # cached in the parent, with ORT's thread pool
        transform = fastort.ImageTransform(threads=2)
        image = np.zeros((600, 800, 3), np.uint8)
        transform([image, image])  # the parent's preprocessing pool has started
        assert fastort.cache_info().currsize == 1

        def child():
            # The cache starts empty: Session(path) loads the model again.
            before = fastort.cache_info()
            assert before.currsize == 0, before
            again = fastort.Session(path)
            assert fastort.cache_info().misses == before.misses + 1
            # Sessions and outputs made by the parent keep working.
            for session in (inherited, again):
                z, w = session.run(None, {"x": ones, "y": ones})
                assert (z == 2).all() and (w == 2).all()
            assert transform([image, image]).shape == (2, 3, 224, 224)
            # Timeouts work: the child runs a watchdog of its own.
            try:
                fastort.Session(endless).run(
                    None, {"x": np.zeros(1, np.float32)}, fastort.RunOptions(timeout=0.2)
                )
            except fastort.RunTimeoutError:
                pass
            else:
                raise AssertionError("no timeout")

        print(in_child(child), in_child(child))
        # The parent is untouched by its children.
        assert fastort.cache_info().currsize == 1
        z, _ = inherited.run(None, {"x": ones, "y": ones})
        print("parent", z.sum())
        """,
        add_path,
        endless,
    )
    assert out == "ok ok\nparent 12.0\n"


@pytest.mark.skipif(
    UNDER_ASAN,
    reason="AddressSanitizer's allocator has no fork handlers: a child can find its lock held "
    "(its exit hung once in CI, forked beside a batcher's four workers)",
)
def test_a_child_that_exits_normally_ends_with_its_status(add_path):
    # ONNX Runtime's own exit handlers wait for the parent's pool threads in a forked child:
    # a child that returned from its script or called sys.exit() hung there (or crashed when
    # a batcher existed). fastort's child ends after its own finalisation instead.
    out = _run(
        """
        path = sys.argv[1]
        ones = np.ones((2, 3), np.float32)
        session = fastort.Session(path, threads=2)
        session.run(None, {"x": ones, "y": ones})
        parents = fastort.Batcher(session, workers=4)
        assert parents.run({"x": ones, "y": ones})[0].sum() == 12

        def child(code, batcher):
            pid = os.fork()
            if pid == 0:
                session.run(None, {"x": ones, "y": ones})
                if batcher:
                    with fastort.Batcher(session, workers=3) as own:
                        assert own.run({"x": ones, "y": ones})[0].sum() == 12
                print("child", code, flush=True)
                sys.exit(code)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    return os.waitstatus_to_exitcode(status)
                time.sleep(0.002)
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return "hung"

        print(child(0, False), child(3, False), child(0, True), child(5, True))
        parents.close()
        """,
        add_path,
    )
    assert out.splitlines()[-1] == "0 3 0 5", out
    assert out.count("child") == 4, out


def test_a_signal_in_the_child_does_not_stop_the_parents_run(save):
    from models import endless_model

    out = _run(
        """
        import signal
        endless = fastort.Session(sys.argv[1])
        x = {"x": np.zeros(1, np.float32)}

        def child():
            signal.signal(signal.SIGUSR1, lambda *args: None)
            os.kill(os.getpid(), signal.SIGUSR1)  # Python writes to the wakeup fd it inherited
            time.sleep(0.2)

        try:
            endless.run(None, x, fastort.RunOptions(timeout=0.05))  # installs the wakeup fd
        except fastort.RunTimeoutError:
            pass
        stopped = []

        def fork_soon():
            time.sleep(0.2)
            stopped.append(in_child(child))

        threading.Thread(target=fork_soon).start()
        try:
            endless.run(None, x, fastort.RunOptions(timeout=1.5))
        except fastort.RunTimeoutError as error:
            print("parent run went on until its timeout:", error)
        except fastort.RunTerminatedError as error:
            print("stopped by the child's signal:", error)
        time.sleep(0.5)
        print(stopped)
        """,
        save(endless_model(), "endless.onnx"),
    )
    assert out == (
        "parent run went on until its timeout: the run was stopped after its timeout of 1.5 s\n"
        "['ok']\n"
    )


FORK_DURING_FIRST_USE = """
import os, random, signal, sys, threading, time
import fastort
name = sys.argv[1]
sys.setswitchinterval(1e-5)
go = threading.Event()
user = threading.Thread(target=lambda: (go.wait(), getattr(fastort, name)))
user.start()
delay = random.random() * 0.003
go.set()
start = time.perf_counter()
while time.perf_counter() - start < delay:
    pass
pid = os.fork()
if pid == 0:
    signal.alarm(10)  # a hung child dies of SIGALRM
    getattr(fastort, name)
    os._exit(0)
user.join()
_, status = os.waitpid(pid, 0)
print(status)
"""


@pytest.mark.parametrize("name", ["RunOptions", "ImageTransform", "Batcher"])
def test_a_child_forked_during_another_threads_first_use_of_a_lazy_name_can_use_it(name):
    # The fork lands at a random moment of the other thread's import of the name's module
    # (without the fork hook, about 1 child in 5 hung on that module's import lock).
    for _ in range(12):
        result = run_python(FORK_DURING_FIRST_USE, name, timeout=60)
        assert result.returncode == 0, describe(result)
        assert result.stdout.split() == ["0"], describe(result)


def test_a_request_the_parent_repeated_is_refused_by_its_batcher_in_the_child(add_path):
    # The parent's loop left its arrays recorded as checked; the child's thread inherits the
    # record, but not the batcher's workers.
    out = _run(
        """
        ones = np.ones((2, 3), np.float32)
        feed = {"x": ones, "y": ones}
        session = fastort.Session(sys.argv[1], threads=1)
        batcher = fastort.Batcher(session)
        for _ in range(3):
            assert batcher.run(feed)[0].sum() == 12

        def child():
            for call in (batcher.run, batcher.submit):
                try:
                    call(feed)
                    raise AssertionError("ran")
                except fastort.FastortError as error:
                    assert "before fork()" in str(error), error
            with fastort.Batcher(session) as own:
                for _ in range(3):
                    assert own.run(feed)[0].sum() == 12

        print(in_child(child))
        batcher.close()
        """,
        add_path,
    )
    assert out == "ok\n"
