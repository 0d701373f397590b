"""Every registered data source subclasses ``DataSource``, whose optional hooks answer "unknown"."""
from pathlib import Path

import pytest

from semcom_sim.data import SOURCES, DataSource, MultimodalData


@pytest.mark.parametrize("name", list(SOURCES))
def test_every_registered_source_is_a_data_source(name):
    assert issubclass(SOURCES[name], DataSource)


class _Minimal(DataSource):
    modalities = ("image",)

    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"image": (1, 2, 2)}

    def load(self, cache_dir: Path, seed: int, test_fraction: float,
             limit: int | None = None) -> tuple[MultimodalData, MultimodalData]:
        raise NotImplementedError


def test_the_optional_hooks_default_to_unknown():
    src = _Minimal()
    assert src.instance_counts(0.2) is None and src.instance_counts(0.2, 100) is None
    assert src.caption_tokens() is None


def test_a_source_without_shapes_or_load_cannot_be_built():
    class NoLoad(DataSource):
        def input_shapes(self) -> dict[str, tuple[int, ...]]:
            return {}

    with pytest.raises(TypeError, match="load"):
        NoLoad()


def test_a_source_that_cannot_count_skips_the_data_budgets(monkeypatch):
    """The checks and the budget ask the hook directly and take None as "not checked"."""
    from semcom_sim.scenario import budget, checks, parse_scenario

    scenario = parse_scenario(Path(__file__).resolve().parents[2] / "scenarios" / "three_modality.yaml")
    assert checks._instance_counts(_Minimal(), scenario, "scenario") is None
    monkeypatch.setitem(SOURCES._entries, scenario.data.source, _Minimal)
    assert budget.estimate_scenario(scenario) is None
    assert budget.source_tokens(_Minimal(), scenario) is None


def test_a_source_that_is_not_a_data_source_is_refused_when_registered():
    import pytest

    from semcom_sim.data import SOURCES

    with pytest.raises(TypeError, match="data source 'plain' must subclass DataSource"):
        SOURCES.register("plain")(type("Plain", (), {}))
    assert "plain" not in SOURCES
