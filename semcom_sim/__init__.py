"""semcom-sim: multimodal semantic communication over Sionna channels.

Python API::

    from semcom_sim import load_scenario, run
    scenario = load_scenario("scenarios/three_modality.yaml", ["training.temperature=0.01"])
    result = run(scenario, "runs/tau001", scenario_path=Path("scenarios/three_modality.yaml"))

The names below are imported on first use, so ``import semcom_sim`` (and the CLI's start-up)
does not pay for torch, Sionna and open_clip until something needs them.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# name -> module, or (module, name there); load_scenario parses and checks a scenario
_LAZY: dict[str, str | tuple[str, str]] = {
    "Scenario": ".scenario", "load_scenario": ".scenario",
    "UserError": ".errors",
    "RunResult": ".pipeline", "run": ".pipeline",
}
__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name] if isinstance(_LAZY[name], tuple) else (_LAZY[name], name)
        return getattr(importlib.import_module(module, __name__), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
