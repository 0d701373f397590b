"""Parameters of encoders and decoders, counted without allocating big tensors, for the memory
budget (:mod:`.budget`); each encoder may answer itself (``parameter_count``)."""
from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # pragma: no cover
    from .schema import EncoderSpec, Scenario

CPU_BUILD_VALUES = 1 << 24  # a count builds on the CPU up to this many values (64 MiB), then on the meta device


def count_parameters(build: Callable[[], Any]) -> int | None:
    """Parameters of the module ``build()`` returns, without allocating a big one.

    Tensors are created on the CPU (as the constructor expects: some read values back) until
    CPU_BUILD_VALUES values in all, and on the meta device (shape only, no memory) after that, so
    a small encoder costs milliseconds and a huge one no memory. A constructor that then mixes
    devices is tried once more entirely on the meta device; None when neither works.
    """
    import torch
    from torch.overrides import TorchFunctionMode

    sized = {torch.empty, torch.zeros, torch.ones, torch.rand, torch.randn, torch.full, torch.empty_strided}

    def values(args: tuple, kwargs: dict) -> int:
        size = kwargs.get("size", args[0] if args else ())
        if not isinstance(size, (tuple, list, torch.Size)):  # torch.empty(3, 4): the leading ints
            size = list(itertools.takewhile(lambda a: isinstance(a, int), args))
        try:
            return math.prod(int(d) for d in size)
        except (TypeError, ValueError):
            return 0

    class _Budget(TorchFunctionMode):
        used = 0

        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = dict(kwargs or {})
            if func in sized:
                n = values(args, kwargs)
                if self.used + n > CPU_BUILD_VALUES:
                    kwargs["device"] = "meta"
                else:
                    self.used += n
            return func(*args, **kwargs)

    def numel(module) -> int:
        return sum(p.numel() for p in module.parameters())

    try:
        with _Budget():
            return numel(build())
    except Exception:  # noqa: BLE001  (a failure here only means: try the other way)
        pass
    try:
        with torch.device("meta"):
            return numel(build())
    except Exception:  # noqa: BLE001
        return None


def encoder_parameters(scenario: "Scenario", shapes: dict[str, tuple[int, ...]]) -> dict[str, int | None]:
    """Parameters of each used encoder; a ``pretrained`` checkpoint does not change the count, so it is
    left out (nothing is read or downloaded)."""
    from ..encoders import ENCODERS, build_encoder

    out: dict[str, int | None] = {}
    for m in scenario.data.modalities:
        spec = scenario.encoders[m]
        opts = {k: v for k, v in spec.options.items() if k != "pretrained"}
        try:
            known = ENCODERS[spec.name].parameter_count(scenario.embedding_dim, shapes[m], **opts)
        except (TypeError, ValueError):
            known = None  # bad options: the encoder check names them next
        out[m] = known if known is not None else count_parameters(
            lambda: build_encoder(spec.name, scenario.embedding_dim, shapes[m], opts))
    return out


def decoder_target_shape(decoder: str, shape: tuple[int, ...],
                         encoder: EncoderSpec | None = None) -> tuple[int, ...]:
    """The registered ``decoder``'s target shape (its ``target_shape_for``) for inputs of one
    instance's ``shape`` whose encoder is the scenario's spec ``encoder``; ValueError where the
    decoder cannot rebuild such inputs."""
    from ..receiver.decoders import DECODERS

    if encoder is None:
        return DECODERS[decoder].target_shape_for(shape)
    return DECODERS[decoder].target_shape_for(shape, encoder.name, encoder.options)


def decoder_parameters(scenario: "Scenario", shapes: dict[str, tuple[int, ...]], n_train: int, tokens: int | None,
                       widest: int) -> dict[str, int | None]:
    """Parameters of each decoder at the largest input it gets (``widest`` payload values, over all
    payload variants) and the largest size its ``n_train`` training targets allow (its
    ``without_data``; ``tokens``: the source's bound on caption token ids, None if unknown)."""
    from ..receiver.decoders import DECODERS

    out: dict[str, int | None] = {}
    for m, spec in scenario.receiver.reconstruction.decoders.items():
        if m not in shapes:
            continue
        try:
            target = decoder_target_shape(spec.name, shapes[m], scenario.encoders.get(m))
        except ValueError:
            out[m] = None  # refused by config's decoder check
            continue
        out[m] = count_parameters(lambda: DECODERS[spec.name].without_data(widest, target, n_train, tokens=tokens,
                                                                           **spec.options))
    return out


def compression_decoder_sizes(scenario: "Scenario", shapes: dict[str, tuple[int, ...]], n_train: int,
                              tokens: int | None,
                              enc_params: dict[str, int | None]) -> dict[str, tuple[int | None, int]]:
    """modality -> (parameters, target values per instance) of each compression-stage decoder, for the
    modalities whose encoder has parameters (None counts as some: it could not be counted)."""
    from ..receiver.decoders import DECODERS
    from ..training.stages.compression import compression_decoders

    out: dict[str, tuple[int | None, int]] = {}
    for m, spec in compression_decoders(scenario).items():
        if m not in shapes or enc_params.get(m) == 0:
            continue
        try:
            target = decoder_target_shape(spec.name, shapes[m], scenario.encoders.get(m))
        except ValueError:
            continue  # refused by the decoder check
        params = count_parameters(lambda: DECODERS[spec.name].without_data(
            scenario.embedding_dim, target, n_train, tokens=tokens, **spec.options))
        out[m] = (params, math.prod(target))
    return out


