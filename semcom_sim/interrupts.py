"""What Ctrl-C, SIGTERM and SIGHUP do to a CLI process.

Outside a guarded region the process prints one line and exits 130 at once: nothing it holds
needs undoing (caches are written by atomic rename under a lock the kernel releases), and an
exception raised in the middle of an import (``import torch`` takes seconds) can leave library
modules half-initialised and fail again while unwinding. Inside a guarded region (a staging
folder is being written) the signal raises :class:`Interrupted`, so the region's clean-up runs
first. A process killed outright (SIGKILL) leaves a staging folder that the next writer into the
same parent removes (:mod:`semcom_sim.report.folders`).
"""
from __future__ import annotations

import os
import signal
import sys
from contextlib import contextmanager
from typing import Any, Iterator

SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))
EXIT_CODE = 130
_guarded = 0


class Interrupted(BaseException):
    """Raised by the handler inside a guarded region. Not a KeyboardInterrupt, which click would
    turn into "Aborted!" and exit 1; a BaseException, so only clean-up handlers see it."""


def report_and_exit() -> None:
    for sig in SIGNALS:  # a second signal while leaving must not print a traceback
        signal.signal(sig, signal.SIG_IGN)
    try:
        sys.stderr.write("semcom-sim: interrupted\n")
        sys.stderr.flush()
    finally:
        os._exit(EXIT_CODE)


def _handler(signum: int, frame: Any) -> None:
    if _guarded:
        raise Interrupted(signum)
    report_and_exit()


def install() -> None:
    for sig in SIGNALS:
        signal.signal(sig, _handler)


@contextmanager
def cleanup_first() -> Iterator[None]:
    """A region whose ``except``/``finally`` clean-up must run before the process exits."""
    global _guarded
    _guarded += 1
    try:
        yield
    finally:
        _guarded -= 1
