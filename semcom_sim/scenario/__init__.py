"""Scenarios: the schema (:mod:`.schema`), reading YAML files (:mod:`.reading`), channel presets by
name (:mod:`.presets`), the checks against the registries (:mod:`.checks`) and the budgets checked
before any work (:mod:`.budget`, :mod:`.parameters`).

:func:`load_scenario` is what ``validate``, ``run`` and ``sweep`` use: parse, then check;
:func:`parse_scenario` parses and validates the schema only.
"""
from __future__ import annotations

from .checks import check_channel_preset, check_encoders_build, check_scenario, load_scenario
from .presets import (channel_preset_path, channel_search_path, list_presets, load_channel_preset,
                      packaged_presets_dir, read_channel_preset)
from .reading import parse_override, parse_scenario, read_yaml, validation_error
from .fields import DecoderSpec, Frozen, TrainSnrRange
from .schema import ChannelConfig, ChannelPreset, ComponentSpec, EncoderSpec, Scenario

__all__ = ["ChannelConfig", "ChannelPreset", "ComponentSpec", "DecoderSpec", "EncoderSpec", "Frozen", "Scenario",
           "TrainSnrRange", "channel_preset_path", "channel_search_path", "check_channel_preset",
           "check_encoders_build", "check_scenario", "list_presets", "load_channel_preset", "load_scenario",
           "packaged_presets_dir", "parse_override", "parse_scenario", "read_channel_preset", "read_yaml",
           "validation_error"]
