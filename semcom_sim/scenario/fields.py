"""The building blocks every section of the scenario schema shares: the frozen base model, free
component options, a component's decoder, and a training SNR spec."""
from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


class Frozen(BaseModel):
    """Every model of a scenario: unknown keys refused, immutable, finite floats only."""

    # allow_inf_nan=False: every float field of every model (nested, in tuples, in unions) must be finite
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _finite_options(v: dict[str, Any]) -> dict[str, Any]:
    """Free-form ``options`` go to constructors as they are: refuse inf and nan there too."""
    stack: list[tuple[str, Any]] = [(str(k), x) for k, x in v.items()]
    while stack:
        where, x = stack.pop()
        if isinstance(x, float) and not math.isfinite(x):
            raise ValueError(f"{where}: must be a finite number (got {x})")
        if isinstance(x, dict):
            stack += [(f"{where}.{k}", y) for k, y in x.items()]
        elif isinstance(x, (list, tuple)):
            stack += [(f"{where}[{i}]", y) for i, y in enumerate(x)]
    return v


Options = Annotated[dict[str, Any], AfterValidator(_finite_options)]


class DecoderSpec(Frozen):
    name: str = Field(description="the decoder, a name in the decoder registry")
    options: Options = Field(default_factory=dict, description="constructor keywords of that decoder")


class TrainSnrRange(Frozen):
    """A uniform draw of the training SNR per training example, in dB."""

    start: float = Field(description="lowest training SNR, dB")
    stop: float = Field(description="highest training SNR, dB")


# TrainSnrRange's alternatives: one SNR or a list of them (each example draws one)
SnrSpec = float | tuple[float, ...] | TrainSnrRange


def check_snr_spec(v):
    """Before validation of a training SNR (a number, a list, or {start, stop}): checked by the
    input's shape, so that the error names what is wrong with that shape rather than the union's
    first branch ("should be a valid number" for a bad range)."""
    if v is None:
        return v
    if isinstance(v, dict):
        if set(v) != {"start", "stop"}:
            raise ValueError(f"a range is {{start, stop}} in dB (got keys {sorted(v)})")
        values = [v["start"], v["stop"]]
    elif isinstance(v, (list, tuple)):
        if not v:
            raise ValueError("the training SNR list is empty")
        values = list(v)
    else:
        values = [v]
    for x in values:
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            # a scalar input is quoted by _validation_error already
            got = f" (got {x!r})" if isinstance(v, (dict, list, tuple)) else ""
            raise ValueError(f"training SNRs must be finite numbers in dB{got}")
    if isinstance(v, dict) and v["start"] > v["stop"]:
        raise ValueError(f"start {v['start']:g} is above stop {v['stop']:g}")
    return v
