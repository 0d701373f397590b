"""Entry point of ``semcom-sim``: exit codes and signals around the commands in :mod:`.commands`.

Exit codes: 0 success, 1 a run that failed on its own terms (training diverged), 2 a user
mistake (one line on stderr, nothing written), 130 interrupted (Ctrl-C, SIGTERM or SIGHUP: one
line; see :mod:`.interrupts`). The handlers are installed before anything heavy is imported.
"""
from __future__ import annotations

import os
import sys
from typing import Any

from . import interrupts


def main(argv: list[str] | None = None) -> None:
    interrupts.install()
    try:
        os.getcwd()  # relative paths, Path.cwd() and resolve() all fail later, each with a traceback
    except FileNotFoundError:
        print("semcom-sim: the current folder no longer exists (was it deleted?); cd to an existing folder",
              file=sys.stderr)
        raise SystemExit(2) from None
    try:
        from .commands import app

        app(args=argv, prog_name="semcom-sim")
    except (interrupts.Interrupted, KeyboardInterrupt):
        interrupts.report_and_exit()


def __getattr__(name: str) -> Any:
    # ``from semcom_sim.cli import app`` (tests, typer.testing) without importing typer at start-up
    if name == "app":
        from .commands import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    main()
