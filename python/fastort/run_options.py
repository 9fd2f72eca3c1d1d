"""`RunOptions`: what onnxruntime's RunOptions controls, plus a timeout.

Any run can be stopped from outside:

* `options.terminate = True`, from any thread, stops every run using `options` as soon as
  ONNX Runtime checks (between nodes, and between iterations of a Loop), raising
  `fastort.RunTerminatedError`; runs started while it is True fail at once.
* `RunOptions(timeout=seconds)`: a run still going after that long raises
  `fastort.RunTimeoutError` (a `TimeoutError`).
* On Python's main thread, a signal stops a run and its handler runs: Ctrl-C raises
  `KeyboardInterrupt`, a SIGALRM handler may raise `TimeoutError`. A handler that returns
  normally lets the run start again from the beginning. (Other threads never run signal
  handlers, in Python as everywhere.)
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

from . import _core

__all__ = ["RunOptions"]


class RunOptions(_core.RunOptionsBase):
    """Options of `Session.run(..., run_options=...)`, shareable between runs and threads.

    Args:
        terminate: start with the terminate flag set (runs fail at once until it is cleared).
        log_severity_level: ONNX Runtime's log level for the run, 0 (verbose) to 4 (fatal);
            None uses the session's. Records go to the `fastort.onnxruntime` logger.
        tag: a name for the run in ONNX Runtime's log (onnxruntime calls it `logid`).
        timeout: seconds after which a run is stopped with `RunTimeoutError`; None: no limit.
        config: ONNX Runtime run config entries {key: value}.

    Everything but `terminate` is fixed; `replace(**changes)` makes a changed copy.
    """

    def __init__(
        self,
        *,
        terminate: bool = False,
        log_severity_level: int | None = None,
        tag: str = "",
        timeout: float | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        _core._refuse_second_init(self)
        if not isinstance(terminate, bool):
            raise _core.InvalidTypeError(f"terminate must be a bool, got {terminate!r}")
        if log_severity_level is not None and (
            isinstance(log_severity_level, bool) or not isinstance(log_severity_level, int)
        ):
            raise _core.InvalidTypeError(
                f"log_severity_level must be an int or None, got {log_severity_level!r}"
            )
        if not isinstance(tag, str):
            raise _core.InvalidTypeError(f"tag must be a str, got {type(tag).__name__}")
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, numbers.Real)
        ):
            raise _core.InvalidTypeError(f"timeout must be seconds or None, got {timeout!r}")
        if config is not None and not isinstance(config, Mapping):
            raise _core.InvalidTypeError("config must be a dict of str -> str")
        super().__init__(
            terminate=terminate,
            log_severity_level=-1 if log_severity_level is None else log_severity_level,
            tag=tag,
            timeout=None if timeout is None else float(timeout),
            config=[(str(key), str(value)) for key, value in (config or {}).items()],
        )

    def replace(self, **changes: Any) -> RunOptions:
        """A copy with `changes` applied (the terminate flag is not copied unless given)."""
        fields: dict[str, Any] = {
            "log_severity_level": None if self.log_severity_level < 0 else self.log_severity_level,
            "tag": self.tag,
            "timeout": self.timeout,
            "config": self.config,
        }
        unknown = set(changes) - {*fields, "terminate"}
        if unknown:
            raise _core.InvalidTypeError(f"unknown RunOptions fields: {', '.join(sorted(unknown))}")
        return RunOptions(**{**fields, **changes})

    def __repr__(self) -> str:
        level = None if self.log_severity_level < 0 else self.log_severity_level
        return (
            f"RunOptions(terminate={self.terminate}, log_severity_level={level}, "
            f"tag={self.tag!r}, timeout={self.timeout}, config={self.config})"
        )
