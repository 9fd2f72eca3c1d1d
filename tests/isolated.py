"""Running a snippet in a fresh interpreter, for checks whose failure mode is a crashed process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

TESTS = os.path.dirname(os.path.abspath(__file__))

# The suite also runs against a sanitized build, with AddressSanitizer's runtime preloaded.
UNDER_ASAN = "asan" in os.environ.get("LD_PRELOAD", "")


def run_python(
    code: str, *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs `code` in a new interpreter (tests/ importable, `env` added to the environment)
    and returns the finished process."""
    env = {**os.environ, **(env or {})}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [TESTS, env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        errors="backslashreplace",
        timeout=timeout,
        env=env,
    )


def describe(process: subprocess.CompletedProcess[str]) -> str:
    """Exit status and output, for assertion messages."""
    return f"exit {process.returncode}\nstdout:\n{process.stdout}\nstderr:\n{process.stderr}"
