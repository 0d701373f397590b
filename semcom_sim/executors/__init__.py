"""How a sweep's cells get run: ``local`` (one after another in this process, the default) or
``ray`` (one Ray task per cell, on this machine or a cluster). Both run the same
:func:`run_cell`, so a cell's folder does not depend on the executor.

Adding an executor: a module here with a context manager ``session(**options)`` that yields
``run_cells(tasks, *, log, reporter_factory) -> {cell: error}``, and its name in :data:`EXECUTORS`.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class CellTask:
    """One cell to run: everything a worker needs, and nothing that only the driver has."""

    name: str
    scenario: Any  # semcom_sim.scenario.Scenario, resolved and checked by the driver
    folder: Path  # absolute: workers may start in another working directory
    scenario_path: Path  # the base scenario file: where channel presets resolve
    encoder_key: str  # cells with the same key share trained encoders (the training cache entry)
    encoders_cached: bool  # whether that entry was already valid when the sweep started
    num_cpus: float = 1.0
    num_gpus: float = 0.0  # the GPU share it asks for if it runs on a GPU (device cuda, or auto where one is)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def threads(self) -> int:
        return cell_threads(self.num_cpus)


def cell_threads(num_cpus: float) -> int:
    """Torch's intra-op threads for a cell given ``num_cpus``: float reductions split over a
    different number of threads round differently, so a cell's numbers depend on this count; it is
    fixed by the experiment (resources.num_cpus), not by the machine or the executor."""
    return max(1, math.ceil(num_cpus))


def run_cell(task: CellTask, reporter=None) -> None:
    """Run one cell into its folder (written atomically by the pipeline) with the cell's thread
    count; torch's previous setting is restored afterwards."""
    import torch

    from ..pipeline import run

    before = torch.get_num_threads()
    torch.set_num_threads(task.threads)
    saved_env = {k: os.environ.get(k) for k in task.env}
    os.environ.update(task.env)
    try:
        run(task.scenario, task.folder, scenario_path=task.scenario_path, reporter=reporter)
    finally:
        torch.set_num_threads(before)
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
