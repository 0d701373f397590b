"""Checks a scenario against the registries and budgets before any work; above the schema, data,
encoders, receiver, transmitter, links, channel.

:mod:`.reading` only parses and validates the schema; the checks here need the components
(names of sources, encoders, heads, schemes, decoders and channel models, their options, the
digital code) and the budgets of :mod:`semcom_sim.scenario.budget`. Registries are imported inside the
functions, so that importing this module stays light and an analog scenario validates without
Sionna or open_clip.
"""
from __future__ import annotations

import csv
import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .presets import channel_preset_path, read_channel_preset
from .reading import parse_scenario
from .schema import ChannelPreset, EncoderSpec, Scenario
from ..errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    from ..data import DataSource

# keywords a channel's constructor gets from the run (build_channel), never from a preset's options
CHANNEL_RUN_KEYWORDS = ("device", "precision")


def load_scenario(path: str | Path, overrides: list[str] | None = None) -> Scenario:
    """Parse a scenario file (:func:`.reading.parse_scenario`) and :func:`check_scenario` it;
    ``overrides`` are ``dotted.key=value`` strings. What ``validate``, ``run`` and ``sweep`` load."""
    scenario = parse_scenario(path, overrides)
    check_scenario(scenario, Path(path))
    return scenario


def check_scenario(scenario: Scenario, path: Path | None = None) -> None:
    """Checks that need the registries (names of sources, encoders, decoders, channel presets and
    their models) and the budgets of :mod:`semcom_sim.scenario.budget`, all before any data is read or
    anything is trained; ``path`` is the scenario file (errors name it, presets resolve beside it)."""
    from . import budget, parameters
    from ..data import SOURCES
    from ..encoders import ENCODERS
    from ..links import LINKS
    from ..receiver.heads import HEADS
    from ..transmitter.schemes import SCHEMES

    src = str(path or "scenario")
    _check_components(scenario.transmitter.links, LINKS, src, "transmitter.links")
    if scenario.receiver.head not in HEADS:
        raise UserError(f"unknown head {scenario.receiver.head!r} (known: {', '.join(HEADS.names())})", source=src,
                        field="receiver.head")
    _check_components(scenario.transmitter.schemes, SCHEMES, src, "transmitter.schemes")
    from ..transmitter.plan import EQUAL_BANDWIDTH_SCHEME

    variants = {f"{EQUAL_BANDWIDTH_SCHEME}_eq_{mode}" for mode in scenario.transmitter.equal_bandwidth}
    for i, spec in enumerate(scenario.transmitter.schemes):
        if spec.shown in variants:
            raise UserError(f"{spec.shown!r} is the name of an equal-bandwidth variant (transmitter.equal_bandwidth); "
                            "give the scheme another label:", source=src, field=f"transmitter.schemes.{i}")
    if scenario.data.source not in SOURCES:
        raise UserError(f"unknown data source {scenario.data.source!r} (known: {', '.join(sorted(SOURCES))})",
                        source=src, field="data.source")
    available = SOURCES[scenario.data.source].modalities
    for m in scenario.data.modalities:
        if m not in available:
            raise UserError(f"source {scenario.data.source!r} has no modality {m!r} (it has: {', '.join(available)})",
                            source=src, field="data.modalities")
    for m in scenario.data.modalities:
        if m not in scenario.encoders:
            raise UserError(f"no encoder for modality {m!r}", source=src, field="encoders")
    if scenario.training.gap_loss.anchor not in scenario.data.modalities:
        raise UserError(f"{scenario.training.gap_loss.anchor!r} is not in data.modalities", source=src,
                        field="training.gap_loss.anchor")
    SOURCES.check_options(scenario.data.source, scenario.data.options, source=src, field="data.options")
    try:
        source = SOURCES[scenario.data.source](**scenario.data.options)
        shapes = source.input_shapes()
    except (TypeError, ValueError) as e:
        raise UserError(str(e), source=src, field="data.options") from None
    for i, spec in enumerate(scenario.transmitter.schemes):
        scheme = SCHEMES[spec.name](SCHEMES[spec.name].Options.model_validate(spec.options))
        try:
            scheme.check_scenario(scenario, source, shapes)
        except ValueError as e:
            raise UserError(str(e), source=src, field=f"transmitter.schemes.{i}") from None
    for m, spec in scenario.encoders.items():
        if spec.name not in ENCODERS:
            raise UserError(f"unknown encoder {spec.name!r} (known: {', '.join(sorted(ENCODERS))})",
                            source=src, field=f"encoders.{m}.name")
        ENCODERS.check_options(spec.name, spec.options, source=src, field=f"encoders.{m}.options")
        if ENCODERS[spec.name].modality and ENCODERS[spec.name].modality != m:  # empty: reads any modality
            raise UserError(f"encoder {spec.name!r} reads {ENCODERS[spec.name].modality!r}, not {m!r}",
                            source=src, field=f"encoders.{m}.name")
    _check_decoders(scenario, src, shapes)
    _check_presets(scenario, path, src)
    kinds = budget.preset_sinr_kinds(scenario, path)
    # budgets before anything big is built (big parameter tensors are counted on the meta device)
    counts = _instance_counts(source, scenario, src)
    enc_params: dict[str, int | None] = {}
    if counts is not None:
        enc_params = parameters.encoder_parameters(scenario, shapes)
        budget.check(scenario, budget.estimate(scenario, counts, shapes, enc_params, kinds), src)
    uncounted = [m for m, n in enc_params.items() if n is None]
    for m, spec in scenario.encoders.items():
        if m in shapes:
            field = f"encoders.{m}.options"
            _try_build(spec, scenario.embedding_dim, shapes[m], source=src, field=field)
            if m in uncounted:  # its constructor would not run on the meta device: count the real one
                from ..encoders import build_encoder

                built = build_encoder(spec.name, scenario.embedding_dim, shapes[m], spec.options)
                enc_params[m] = sum(p.numel() for p in built.parameters())
    if counts is not None and uncounted:
        budget.check(scenario, budget.estimate(scenario, counts, shapes, enc_params, kinds), src)
    if scenario.receiver.train_channel is not None:
        check_channel_preset(channel_preset_path(scenario.receiver.train_channel, path, "receiver.train_channel"))
    ft = scenario.training.through_channel
    if ft is not None:
        check_channel_preset(channel_preset_path(ft.preset, path, "training.through_channel.preset"))
        from ..transmitter.schemes import SCHEMES

        if ft.scheme not in SCHEMES:
            raise UserError(f"unknown scheme {ft.scheme!r} (known: {', '.join(SCHEMES.names())})",
                            source=src, field="training.through_channel.scheme")
    _check_links(scenario, src, path)


def _check_presets(scenario: Scenario, path: Path | None, src: str) -> None:
    """Each preset of channel.presets, checked; results rows are labelled by a preset's ``name:``, so
    two presets with one name would mix their rows under it."""
    named: dict[str, Path] = {}
    for ref in scenario.channel.presets:
        file = channel_preset_path(ref, path)
        name = check_channel_preset(file).name
        if name in named:
            if named[name].resolve() == file.resolve():
                raise UserError(f"preset {ref!r} ({file}) is listed twice", source=src, field="channel.presets")
            raise UserError(f"presets {named[name]} and {file} are both named {name!r}; results rows are labelled "
                            "by the name: give each preset file its own name:", source=src, field="channel.presets")
        named[name] = file


def _instance_counts(source: "DataSource", scenario: Scenario, src: str) -> Any:
    """(train, test) sizes from ``DataSource.instance_counts``; None where the source cannot tell
    (its data-dependent budgets are then not checked)."""
    from .budget import Counts, source_tokens

    try:
        sizes = source.instance_counts(scenario.data.test_fraction, scenario.data.limit)
    except (OSError, ValueError, EOFError, csv.Error) as e:
        raise UserError(str(e).splitlines()[0] if str(e) else type(e).__name__, source=src, field="data") from None
    if sizes is None:
        return None
    n_train, n_test = sizes
    if n_train < 1 or n_test < 1:
        raise UserError(f"the split leaves {n_train} training and {n_test} test instances", source=src,
                        field="data.test_fraction")
    return Counts(int(n_train), int(n_test), source_tokens(source, scenario))


def _check_decoders(scenario: Scenario, source: str, shapes: dict[str, tuple[int, ...]]) -> None:
    """The receiver's decoders, then the warm-up's (``training.warmup``: those it names, and the
    defaults it resolves for the other modalities)."""
    for m, spec in scenario.receiver.reconstruction.decoders.items():
        _check_decoder(scenario, source, shapes, m, spec, f"receiver.reconstruction.decoders.{m}")
    warm = scenario.training.warmup
    if warm is None:
        return
    from ..training.stages.compression import compression_decoders, compression_field

    for m in warm.decoders or {}:
        if m not in scenario.data.modalities:
            raise UserError(f"{m!r} is not in data.modalities", source=source, field=f"training.warmup.decoders.{m}")
    for m, spec in compression_decoders(scenario).items():
        field = compression_field(scenario, m)
        if not field.startswith("receiver."):  # the receiver's were checked above
            _check_decoder(scenario, source, shapes, m, spec, field)


def _check_decoder(scenario: Scenario, source: str, shapes: dict[str, tuple[int, ...]], m: str, spec,
                   field: str) -> None:
    """Decoder ``spec`` of modality ``m``, set at ``field``: a registered name that may rebuild ``m``,
    options it takes, and a build for the modality's inputs."""
    from .parameters import decoder_target_shape
    from ..receiver.decoders import DECODERS

    if m not in scenario.data.modalities:
        raise UserError(f"{m!r} is not in data.modalities", source=source, field=field)
    if spec.name not in DECODERS:
        raise UserError(f"unknown decoder {spec.name!r} (known: {', '.join(DECODERS.names())})",
                        source=source, field=f"{field}.name")
    decoder = DECODERS[spec.name]
    if decoder.modality and decoder.modality != m:  # empty: rebuilds any modality whose inputs fit
        raise UserError(f"decoder {spec.name!r} rebuilds {decoder.modality!r}, not {m!r} (field_mlp "
                        f"rebuilds the raw inputs of any real-valued modality)", source=source,
                        field=f"{field}.name")
    DECODERS.check_options(spec.name, spec.options, source=source, field=f"{field}.options")
    if m in shapes:  # a decoder for data it cannot rebuild (e.g. an image decoder on an embedding)
        encoder = scenario.encoders[m]  # check_scenario has checked its name and option names
        if decoder.target_from_encoder:
            # the target follows the encoder's options (the log-mel's front end): bad ones are
            # named as the encoder check names them, not blamed on the decoder
            _try_build(encoder, scenario.embedding_dim, shapes[m], source=source, field=f"encoders.{m}.options")
        try:
            decoder.without_data(2, decoder_target_shape(spec.name, shapes[m], encoder), **spec.options)
        except (TypeError, ValueError) as e:
            raise UserError(f"cannot build {spec.name!r}: {e}", source=source, field=field) from None


def _check_components(specs, registry, source: str, field: str) -> None:
    """Each scheme or link of the scenario: a registered name, and options its own model accepts."""
    from pydantic import ValidationError

    from .reading import validation_error

    for i, spec in enumerate(specs):
        if spec.name not in registry:
            raise UserError(f"unknown {registry.kind} {spec.name!r} (known: {', '.join(registry.names())})",
                            source=source, field=f"{field}.{i}")
        try:
            registry[spec.name].Options.model_validate(spec.options)
        except ValidationError as e:
            raise validation_error(e, source, prefix=f"{field}.{i}.options") from None


def _check_links(scenario: Scenario, source: str, path: Path | None) -> None:
    """Each link's own check of every transmission it carries (e.g. a code that 5G LDPC cannot
    build: k, n, rate limits), and of its scheme and every channel it crosses (the test presets and
    a noise-aware receiver's training preset), before anything runs."""
    from ..transmitter.payload import rfs_size
    from ..transmitter.plan import transmissions

    from ..transmitter.plan import link_uses, payload_use

    labels = [s.shown for s in scenario.transmitter.links]
    refs = list(scenario.channel.presets) + [r for r in [scenario.receiver.train_channel] if r]
    presets = [read_channel_preset(channel_preset_path(ref, path)) for ref in refs]
    m = len(scenario.data.modalities)
    schemes = [payload_use(s).scheme for s in scenario.transmitter.schemes]
    links = link_uses(scenario)
    # reasons[i][j]: why link i cannot carry scheme j (None: it can)
    reasons = [[link.cls.refuses(link.options, scheme, scheme.vectors(m)) for scheme in schemes] for link in links]
    for j in range(len(schemes)):
        if all(r[j] for r in reasons):  # the plan would leave this scheme out altogether: no silent gap
            raise UserError(f"no link of the scenario carries it: {reasons[0][j]}", source=source,
                            field=f"transmitter.schemes.{j}")
    for i, link in enumerate(links):
        if all(reasons[i]):  # the plan would leave this link out altogether
            raise UserError(reasons[i][0], source=source, field=f"transmitter.links.{i}")
        try:
            for preset in presets:
                link.cls.check_channel(link.options, preset)
        except ValueError as e:
            raise UserError(str(e), source=source, field=f"transmitter.links.{i}") from None
    for tx in transmissions(scenario):
        try:
            tx.link.cls.check(tx.link.options, rfs_size(scenario.embedding_dim, tx.keep))
        except ValueError as e:
            raise UserError(f"{tx.scheme} at rfs_keep {tx.keep:g}: {e}", source=source,
                            field=f"transmitter.links.{labels.index(tx.link.label)}") from None


def _try_build(spec: EncoderSpec, dim: int, shape: tuple[int, ...], *, source: str, field: str, build: bool = False):
    """The encoder's own check of its options (for most, one untrained build on the CPU:
    milliseconds), or with ``build`` always a real build, so bad options fail up front."""
    from ..encoders import ENCODERS, build_encoder

    try:
        if build:
            build_encoder(spec.name, dim, shape, spec.options)
        else:
            ENCODERS[spec.name].check(dim, shape, **spec.options)
    except (TypeError, ValueError) as e:  # a RuntimeError is a bug in the encoder: its traceback shows
        raise UserError(f"cannot build {spec.name!r}: {e}", source=source, field=field) from None


def check_encoders_build(scenario: Scenario, path: Path | None = None) -> None:
    """Build once the encoders that ``check_scenario`` checked without building (those needing a
    heavy import, see ``Encoder.checked_without_building``); ``run`` calls it before any work."""
    from ..data import SOURCES
    from ..encoders import ENCODERS

    shapes = SOURCES[scenario.data.source](**scenario.data.options).input_shapes()
    for m in scenario.data.modalities:
        spec = scenario.encoders[m]
        if ENCODERS[spec.name].checked_without_building and m in shapes:
            _try_build(spec, scenario.embedding_dim, shapes[m], source=str(path or "scenario"),
                       field=f"encoders.{m}.options", build=True)


def check_channel_preset(path: Path) -> ChannelPreset:
    """The preset file at ``path``, parsed and checked against the channel registry: a known model,
    options its constructor takes (not those the run passes itself, ``device`` and ``precision``),
    none it needs missing, and values the model's own ``check`` accepts."""
    from ..channel import CHANNELS

    src = str(path)
    preset = read_channel_preset(path)
    if preset.model not in CHANNELS:
        raise UserError(f"unknown channel model {preset.model!r} (known: {', '.join(CHANNELS.names())})",
                        source=src, field="model")
    CHANNELS.check_options(preset.model, preset.options, source=src, field="options",
                           exclude=CHANNEL_RUN_KEYWORDS)
    cls = CHANNELS[preset.model]
    missing = [k for k, p in inspect.signature(cls).parameters.items()
               if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
               and k not in CHANNEL_RUN_KEYWORDS and k not in preset.options]
    if missing:
        raise UserError(f"missing option {', '.join(map(repr, missing))} (model {preset.model!r} needs it)",
                        source=src, field="options")
    try:
        cls.check(**preset.options)
    except ValueError as e:
        raise UserError(str(e), source=src, field="options") from None
    return preset
