"""The scenario reference of the docs is generated from the pydantic models (docs/_ext/schema_fields.py):
every field of a scenario file, a channel preset file and every link's and scheme's options must
carry a description, and the walker must reach every model the schema nests."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs" / "_ext"))
import schema_fields  # noqa: E402


def test_every_field_has_a_description():
    missing = schema_fields.undescribed()
    assert not missing, ("fields without a description (add Field(..., description=...) to the model; the "
                         f"docs build fails on them too): {missing}")


def test_the_walker_reaches_every_section_and_field():
    groups = schema_fields.all_sections()
    paths = {s.path for s in groups["scenario"]}
    for path in ("", "data", "encoders.<key>", "training.gap_loss.alignment_weight", "training.through_channel.snr_db",
                 "training.warmup.decoders.<key>", "transmitter.links[]", "channel.snr_db",
                 "receiver.reconstruction.decoders.<key>", "limits"):
        assert path in paths, path
    digital = next(s for s in groups["link and scheme options"] if s.title.startswith("link digital"))
    rows = {r.name: r for r in digital.rows}
    assert rows["bits"].default == "4" and rows["bits"].allowed == ">= 1; <= 16"
    assert rows["code_rate"].allowed == "> 0.0; < 1.0"
    top = {r.name: r for r in groups["scenario"][0].rows}
    assert top["device"].allowed == "auto, cpu, cuda" and top["device"].default == "auto"
    assert top["training"].default == "required"
    assert top["seed"].allowed == ">= 0; < 2**63"


def test_a_field_without_a_description_is_found(monkeypatch):
    class Options(BaseModel):
        described: int = Field(1, description="has one")
        bare: int = 2

    class Model(BaseModel):
        options: Options = Field(default_factory=Options, description="nested")

    sections = schema_fields.sections(Model)
    assert [m for s in sections for m in s.undescribed()] == ["options.bare"]
    monkeypatch.setattr(schema_fields, "all_sections", lambda: {"scenario": sections})
    assert schema_fields.undescribed() == ["options.bare"]


@pytest.mark.parametrize("ann, name", [(int | None, "integer or null"), (tuple[float, ...], "list of number"),
                                       (dict[str, int], "mapping string -> integer")])
def test_type_names(ann, name):
    assert schema_fields.type_name(ann) == name
