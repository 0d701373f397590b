"""The default executor: the cells one after another in this process, each with its own progress
display; the first cell that fails stops the sweep (its error is the sweep's error)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable

from . import CellTask, run_cell


@contextmanager
def session(**_options):
    """Nothing to connect to: yields :func:`run_cells`."""
    yield run_cells


def run_cells(tasks: list[CellTask], *, log: Callable[[str], None] = print, reporter_factory=None) -> dict[str, str]:
    from ..report import Reporter

    for i, task in enumerate(tasks):
        log(f"[{i + 1}/{len(tasks)}] {task.name}")
        rep = reporter_factory() if reporter_factory else Reporter()
        try:
            run_cell(task, rep)
        finally:
            rep.close()
    return {}
