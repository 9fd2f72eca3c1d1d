"""Warmup and threads="auto", and batchers leaving no threads behind."""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys

import pytest
from onnx import TensorProto

import fastort
from isolated import describe, run_python
from models import identity_model, matmul_model


def test_warmup_runs_each_batch_size(add_session, save):
    add_session.warmup()
    add_session.warmup(batch_sizes=[1, 3, 64])
    with pytest.raises(fastort.InvalidArgumentError):
        add_session.warmup(batch_sizes=[0])
    fixed = fastort.Session(save(matmul_model(4), "fixed.onnx"))
    fixed.warmup(batch_sizes=[4])
    with pytest.raises(fastort.InvalidArgumentError, match="fixed first axis"):
        fixed.warmup(batch_sizes=[8])
    strings = fastort.Session(save(identity_model(TensorProto.STRING), "strings.onnx"))
    strings.warmup()


def test_threads_auto_is_the_default_and_shows_in_repr(add_path):
    budget = fastort._core.cpu_budget()
    assert 1 <= budget["session_threads"] <= budget["physical_cores"] <= budget["affinity"]
    assert budget["affinity"] <= budget["online"]
    session = fastort.Session(add_path)
    assert session.threads == budget["session_threads"]
    assert f"threads={session.threads}" in repr(session)
    assert fastort.Session(add_path, threads="auto").threads == session.threads
    assert fastort.Session(add_path, threads=3).threads == 3
    assert "threads=default" in repr(fastort.Session(add_path, threads=None))
    with pytest.raises(fastort.InvalidTypeError):
        fastort.Session(add_path, threads="many")  # type: ignore[arg-type]
    with pytest.raises(fastort.InvalidTypeError):
        fastort.Session(add_path, inter_op_threads="auto")  # type: ignore[arg-type]


AUTO_THREADS = """
import sys, fastort
print(fastort._core.cpu_budget()["session_threads"], fastort.Session(sys.argv[1]).threads,
      fastort._core.hardware_threads())
"""


def test_threads_auto_follows_omp_num_threads(add_path):
    process = run_python(AUTO_THREADS, add_path, env={"OMP_NUM_THREADS": "1"})
    assert process.returncode == 0, describe(process)
    assert process.stdout.split() == ["1", "1", "1"]
    process = run_python(AUTO_THREADS, add_path, env={"OMP_NUM_THREADS": "not a number"})
    budget = fastort._core.cpu_budget()
    assert process.stdout.split()[0] == str(budget["session_threads"]), describe(process)


@pytest.mark.skipif(shutil.which("taskset") is None, reason="no taskset")
def test_threads_auto_follows_the_affinity_mask(add_path):
    process = subprocess.run(
        ["taskset", "-c", "0", sys.executable, "-c", AUTO_THREADS, add_path],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"},
    )
    assert process.returncode == 0, describe(process)  # type: ignore[arg-type]
    assert process.stdout.split() == ["1", "1", "1"]


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts Linux threads")
def test_batchers_made_and_dropped_leave_no_threads(add_session, xy):
    x, y = xy

    def native_threads() -> int:
        return len(os.listdir("/proc/self/task"))

    fastort.Batcher(add_session).close()  # any thread made once per process exists now
    before = native_threads()
    for _ in range(50):
        batcher = fastort.Batcher(add_session)
        batcher.submit({"x": x, "y": y}).result(timeout=30)
        del batcher
    gc.collect()
    assert native_threads() == before
