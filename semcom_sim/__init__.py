"""semcom-sim: multimodal semantic communication over Sionna channels.

Python API::

    from semcom_sim import load_scenario, run
    scenario = load_scenario("scenarios/three_modality.yaml", ["training.temperature=0.01"])
    result = run(scenario, "runs/tau001", scenario_path=Path("scenarios/three_modality.yaml"))
"""
from .config import Scenario, load_scenario
from .errors import UserError
from .pipeline import RunResult, run

__version__ = "0.1.0"
__all__ = ["Scenario", "load_scenario", "run", "RunResult", "UserError", "__version__"]
