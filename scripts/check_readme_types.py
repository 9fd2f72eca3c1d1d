"""Type-check the README's Python examples with the project's mypy settings (--strict).

    python scripts/check_readme_types.py

Each ```python block is written to a temporary module and checked; exit 1 on any error.
tests/test_readme.py runs the same blocks against the model the README exports.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def python_blocks(readme: Path = ROOT / "README.md") -> list[str]:
    """The README's ```python blocks, in order (tests/test_readme.py runs them)."""
    return re.findall(r"```python\n(.*?)```", readme.read_text(), re.DOTALL)


def main() -> int:
    blocks = python_blocks()
    if not blocks:
        print("README.md has no Python examples", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for index, block in enumerate(blocks):
            path = Path(folder) / f"readme_example_{index}.py"
            path.write_text(block)
            paths.append(str(path))
        command = [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            *paths,
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    print(result.stdout.strip() or result.stderr.strip())
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
