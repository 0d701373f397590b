"""Every field of a scenario file, a channel preset file and the link and scheme options, read from
the pydantic models: the one source of the docs' scenario reference (scenario_reference.py) and of
tests/test_docs_reference.py, which fails on a field without a description.

Written by hand: the reference needs one table per place in the file (``training.gap_loss``,
``encoders.<key>``), pydantic's constraints and literals as allowed values, and a hard failure on a
missing description; autodoc_pydantic, the usual library, documents the models as Python classes
and was not tried. Imports no Sphinx, so that the test needs only the package.
"""
from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

import annotated_types as at
from pydantic import BaseModel
from pydantic_core import PydanticUndefined


@dataclass(frozen=True)
class FieldRow:
    name: str
    type: str
    default: str
    allowed: str
    description: str


@dataclass(frozen=True)
class ModelSection:
    path: str  # where the model sits in its file, e.g. "training.gap_loss"
    title: str
    intro: str  # the model's docstring
    model: type[BaseModel]
    rows: tuple[FieldRow, ...]

    def undescribed(self) -> list[str]:
        return [f"{self.path}.{r.name}" if self.path else r.name for r in self.rows if not r.description.strip()]


def _args(ann: Any) -> tuple:
    return typing.get_args(ann)


def _is_union(ann: Any) -> bool:
    return typing.get_origin(ann) in (typing.Union, types.UnionType)


def _is_model(ann: Any) -> bool:
    return isinstance(ann, type) and issubclass(ann, BaseModel)


def _strip_annotated(ann: Any) -> Any:
    while typing.get_origin(ann) is typing.Annotated:
        ann = _args(ann)[0]
    return ann


def type_name(ann: Any) -> str:
    """A reader's name for a field's type, as it is written in YAML."""
    ann = _strip_annotated(ann)
    origin = typing.get_origin(ann)
    if ann is type(None):
        return "null"
    if ann is Any:
        return "any"
    if origin is Literal:
        return "string" if all(isinstance(a, str) for a in _args(ann)) else "value"
    if _is_union(ann):
        return " or ".join(dict.fromkeys(type_name(a) for a in _args(ann)))
    if origin in (tuple, list):
        inner = [a for a in _args(ann) if a is not Ellipsis]
        return f"list of {type_name(inner[0])}" if inner else "list"
    if origin is dict:
        k, v = _args(ann)
        return f"mapping {type_name(k)} -> {type_name(v)}" if v is not Any else "mapping"
    if _is_model(ann):
        return f"{ann.__name__} (mapping)"
    return {bool: "boolean", int: "integer", float: "number", str: "string"}.get(ann, getattr(ann, "__name__", str(ann)))


def nested_models(ann: Any, suffix: str = "") -> list[tuple[type[BaseModel], str]]:
    """The pydantic models a field's value may be, each with where it sits in the value: "" (the
    value itself, or one branch of a union), "[]" (an item of a list), ".<key>" (a mapping's value)."""
    ann = _strip_annotated(ann)
    origin = typing.get_origin(ann)
    if _is_model(ann):
        return [(ann, suffix)]
    if origin is Literal:
        return []
    if origin in (tuple, list):
        inner = [a for a in _args(ann) if a is not Ellipsis]
        return [m for a in inner for m in nested_models(a, suffix + "[]")]
    if origin is dict:
        return nested_models(_args(ann)[1], suffix + ".<key>")
    out: list[tuple[type[BaseModel], str]] = []
    for a in _args(ann):
        out += [m for m in nested_models(a, suffix) if m not in out]
    return out


def literals(ann: Any) -> list:
    ann = _strip_annotated(ann)
    if typing.get_origin(ann) is Literal:
        return list(_args(ann))
    out: list = []
    for a in _args(ann):
        if a is not Ellipsis:
            out += literals(a)
    return out


_BOUNDS = ((at.Ge, "ge", ">="), (at.Gt, "gt", ">"), (at.Le, "le", "<="), (at.Lt, "lt", "<"))


def constraints(field) -> list[str]:
    out = []
    for m in field.metadata:
        for kind, attr, sign in _BOUNDS:
            if isinstance(m, kind):
                out.append(f"{sign} {_num(getattr(m, attr))}")
        if isinstance(m, at.MaxLen):
            out.append(f"at most {m.max_length} characters")
        if isinstance(m, at.MinLen):
            out.append(f"at least {m.min_length} items")
        pattern = getattr(m, "pattern", None)
        if pattern:
            out.append(f"matches `{pattern}`")
    return out


def _num(v: Any) -> str:
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 1 << 20:
        p = v.bit_length() - 1
        if v == 1 << p:
            return f"2**{p}"
        if v % 10 ** 6 == 0:
            return f"{v:.0e}".replace("e+0", "e").replace("e+", "e")
    return repr(v)


def _yaml(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, BaseModel):
        shown = getattr(v, "shown", None)  # a component spec reads as its name
        return shown if isinstance(shown, str) else "{" + ", ".join(
            f"{k}: {_yaml(x)}" for k, x in v.model_dump(exclude_defaults=True).items()) + "}"
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(_yaml(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_yaml(x)}" for k, x in v.items()) + "}"
    if isinstance(v, float):
        return _num(int(v)) if v.is_integer() and abs(v) >= 1e6 else repr(v)
    return str(v)


def default_of(field) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return "its defaults"
        return _yaml(value)
    return _yaml(field.default) if field.default is not PydanticUndefined else ""


def rows_of(model: type[BaseModel]) -> tuple[FieldRow, ...]:
    rows = []
    for name, f in model.model_fields.items():
        allowed = [", ".join(_yaml(x) for x in literals(f.annotation))] if literals(f.annotation) else []
        rows.append(FieldRow(name, type_name(f.annotation), default_of(f), "; ".join(allowed + constraints(f)),
                             f.description or ""))
    return tuple(rows)


def sections(model: type[BaseModel], path: str = "", title: str | None = None) -> list[ModelSection]:
    """``model`` and every model nested in it, depth first, each at the path it sits in the file;
    a model met again at another path is listed there too (its fields may be set in either place)."""
    out = [ModelSection(path, title or (path or model.__name__), (model.__doc__ or "").strip()
                        if model.__doc__ != BaseModel.__doc__ else "", model, rows_of(model))]
    for name, f in model.model_fields.items():
        kids = nested_models(f.annotation)
        for kid, suffix in kids:
            sub = (f"{path}.{name}" if path else name) + suffix
            out += sections(kid, sub, f"{sub} ({kid.__name__})" if len(kids) > 1 else None)
    return out


def component_options() -> list[ModelSection]:
    """The options model of every registered link and scheme (``{name: NAME, options: {...}}``)."""
    from semcom_sim.links import LINKS
    from semcom_sim.transmitter.schemes import SCHEMES

    out = []
    for kind, registry, where in (("link", LINKS, "transmitter.links[]"), ("scheme", SCHEMES, "transmitter.schemes[]")):
        for name in registry.names():
            options = registry[name].Options
            out += sections(options, f"{where}.options", f"{kind} {name}: {where}.options")
    return out


def all_sections() -> dict[str, list[ModelSection]]:
    """Every documented file layout: the scenario, the channel preset, the link and scheme options."""
    from semcom_sim.scenario import ChannelPreset, Scenario

    return {"scenario": sections(Scenario), "channel preset": sections(ChannelPreset),
            "link and scheme options": component_options()}


def undescribed() -> list[str]:
    """Every field of every documented model that has no description."""
    missing: list[str] = []
    for group in all_sections().values():
        for s in group:
            missing += [m for m in s.undescribed() if m not in missing]
    return missing
