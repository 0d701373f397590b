"""Channel presets by name: the built-in ones shipped with the package, and a project's own
``channels/`` folder beside a scenario, which wins."""
from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from ..errors import UserError
from .reading import read_yaml, validation_error
from .schema import ChannelPreset


def packaged_presets_dir() -> Path:
    """The built-in channel presets: the repository's top-level ``channels/``, which a wheel carries
    as ``semcom_sim/channel/presets`` (pyproject's package-dir), found there through
    importlib.resources; a source checkout or an editable install has no such folder and reads
    ``channels/`` beside the package."""
    from importlib.resources import files

    package = Path(str(files("semcom_sim")))
    installed = package / "channel" / "presets"
    if installed.is_dir():
        return installed
    return package.parent / "channels"


def channel_search_path(scenario_path: Path | None) -> list[Path]:
    """Where a preset name is looked up, first match wins: ``channels/`` beside the scenario file or
    one folder up (a project's own presets), then the packaged ones."""
    dirs = []
    if scenario_path is not None:
        dirs += [scenario_path.parent.parent / "channels", scenario_path.parent / "channels"]
    dirs.append(packaged_presets_dir())
    return dirs


def list_presets(scenario_path: Path | None = None) -> dict[str, Path]:
    """Every preset name a scenario at ``scenario_path`` can use, with the file it resolves to.

    >>> from semcom_sim.blocks import list_presets
    >>> "awgn" in list_presets() and "rayleigh_block" in list_presets()
    True
    """
    found: dict[str, Path] = {}
    for d in channel_search_path(scenario_path):
        if d.is_dir():
            for f in sorted(d.glob("*.yaml")):
                found.setdefault(f.stem, f)
    return dict(sorted(found.items()))


def channel_preset_path(ref: str, scenario_path: Path | None = None, field: str = "channel.presets") -> Path:
    """The file a preset name (``awgn``, see :func:`channel_search_path`) or a path to a YAML file
    (relative to the scenario's folder, then to the working directory) resolves to."""
    if ref.endswith((".yaml", ".yml")):
        p = Path(ref)
        candidates = [p] if p.is_absolute() or scenario_path is None else [scenario_path.parent / p, p]
    else:
        candidates = [d / f"{ref}.yaml" for d in channel_search_path(scenario_path)]
    for c in candidates:
        if c.is_file():
            return c
    raise UserError(f"unknown channel preset {ref!r}", source=str(scenario_path or "scenario"), field=field)


def read_channel_preset(path: Path) -> ChannelPreset:
    """Parse one preset file (its model and options are checked in :mod:`semcom_sim.scenario.checks`)."""
    raw = read_yaml(path)
    stray = sorted(set(raw) - set(ChannelPreset.model_fields)) if isinstance(raw, dict) else []
    if stray:  # most likely a model option at the top level, as preset files had it before
        raise UserError(f"unknown key; a model's options go under 'options:' (e.g. options: {{{stray[0]}: ...}})",
                        source=str(path), field=stray[0])
    try:
        return ChannelPreset.model_validate(raw)
    except ValidationError as e:
        raise validation_error(e, str(path)) from None


def load_channel_preset(ref: str, scenario_path: Path | None = None) -> ChannelPreset:
    """A preset by name (``awgn``, see :func:`channel_search_path`) or by path to a YAML file."""
    return read_channel_preset(channel_preset_path(ref, scenario_path))
