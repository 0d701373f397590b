"""Budgets checked before a run does any work: memory, channel symbols, LDPC work, training samples.

A scenario that cannot fit is refused at validation with one line that names the estimate, the
limit and the ``limits.*`` field that raises it (``--set limits.memory_gib=64``, or a ``limits:``
section in the YAML). Everything here is arithmetic on the scenario and on instance counts that the
data source gives without loading its data; torch is imported only to count encoder and decoder
parameters, with every big tensor on the meta device (no memory is allocated for it).

Notation: N_train, N_test instances (from the source's ``instance_counts``), M modalities, D the
embedding dimension, b bytes per real value (4 for float32, 8 for float64), S SNR points,
R = ``channel.mc_draws``, P channel presets. Each transmission of the plan
(``transmitter.plan.transmissions``: scheme x RFS fraction x link, plus equal-bandwidth variants)
sends V vectors (M conventional, 1 centroid) of T = round(keep * D) values each; each link counts
what a vector costs it (``Link.cost``): L channel uses (ceil(T / 2) on the analog link, n /
bits_per_symbol on the digital one) and, where it decodes a code, n coded bits through a decoder of
some iterations (``LinkCost``); an instance costs V times that. A scheme that sends files (media)
costs what its files cost the link (``Link.files_cost``), each file at the bound its codec gives
from the input's shape (``Media.max_file_bytes``: the files do not exist before the run).

Work:

- ``channel_symbols`` = sum over transmissions and presets of S * R * N_test * V * L (V * L: the
  instance's channel uses), but a link that needs only each block's SINR (the nr link's
  abstraction, ``LinkCost.sinr_symbols``) over a preset with one SINR per vector (AWGN, block
  fading: ``Channel.one_sinr_per_block``) counts one symbol per block, and one that draws long
  blocks' EESM from the SINRs' law (``LinkCost.law_symbols``) over a preset with i.i.d. SINRs per
  symbol (fast fading: ``Channel.iid_sinr_per_symbol``) one symbol per such block (:func:`preset_sinr_kinds`).
- ``ldpc_bit_iterations`` = sum over transmissions and presets of S * R * N_test * V * n *
  iterations (coded bits through belief propagation, times its iterations: LDPC decoding is about
  100 times slower per symbol than the analog link; 0 for a link that decodes nothing).
- ``training_samples`` = (training.epochs + training.warmup.epochs + through_channel.epochs) * N_train
  (each sample passes all M encoders; a warm-up sample also its decoders), and separately
  reconstruction.epochs * N_train * (decoders) * (payload variants) for the receiver's decoders.
- ``snr_points`` = S.

Memory (bytes; the parts are added although some are transient, so the sum over-estimates):

- base: 1 GiB for the interpreter, torch, Sionna and open_clip.
- data: N * (values of one instance over the modalities) * 16 (raw arrays plus the copies made by
  the split, the device/dtype move and the encoders' front ends; 8 bytes each).
- encoders: parameters * b * 4 (weights, gradients, two Adam moments); parameters counted by
  building each encoder with its big tensors on the meta device (``count_parameters``). Training
  activations are not counted (they scale with training.batch_size; tens of MB for the shipped
  encoders).
- embeddings: N * M * D * b * 2 (the per-batch outputs and their concatenation).
- payloads: sum over distinct (payload scheme, RFS fraction) of N * V * T * b (all are kept for
  the whole channel stage).
- head: the largest N_train * V * T * 8 * 3 (scikit-learn fits in float64 and copies).
- channel (the largest transmission): each link's ``chunk_bytes`` for S * N_test * V * L symbols
  per draw (one per block as above where every preset has one SINR per vector), following its own
  chunking rule. The analog link pushes chunks of r draws, r = max(1,
  min(R, 2^24 // (S * N_test * V * L))); measured peak: 7.2 complex values per chunk symbol
  (Rayleigh fast fading), counted as 8 * 2b. The digital link demaps chunks of
  max(2^24, S * N_test * V * L * 2^bits_per_symbol) constellation distances (measured about 24 b
  per entry, demapper, LLRs and decoder together), counted as 16 b per entry plus
  2^24 * b * 6 for the decoder's messages, plus S * R * N_test * V * T * b * 2 for the decoded
  payloads it collects over all draws.
- decoders (reconstruction): parameters * b * (variants + 3) (each payload variant's decoders are
  kept for the channel stage; one at a time trains with gradients and Adam moments), plus the targets of all
  instances N * (target values) * b * 2. A caption decoder's vocabulary is unknown before the
  data is read: it is bounded by min(49408, N_train * L).
- warm-up decoders (``training.warmup``, modalities whose encoder has parameters): parameters * b *
  4 (trained with Adam, input D), plus their training targets N_train * (target values) * b.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import UserError
from .parameters import compression_decoder_sizes, decoder_parameters, decoder_target_shape, encoder_parameters

if TYPE_CHECKING:  # pragma: no cover
    from .schema import Scenario
    from ..data import DataSource
    from ..links.base import LinkCost
    from ..transmitter.plan import Transmission

GIB = 1 << 30
BASE_BYTES = 1 * GIB
DATA_BYTES_PER_VALUE = 16
ADAM_COPIES = 4  # weights, gradients, first and second moments
HEAD_BYTES_PER_VALUE = 8 * 3

# the shipped scenarios' typical sizes: the field named in a refusal is the factor furthest above its
# typical value (a hint at what to change; any factor may be the one to lower)
_TYPICAL = {"channel.snr_db": 13, "channel.mc_draws": 20, "channel.presets": 3, "embedding_dim": 64,
            "transmitter.rfs_keep": 3, "data": 360, "transmitter.links": 20,
            "receiver.train_draws": 4}


@dataclass(frozen=True)
class Counts:
    """Instances of each split, from the data source without loading it."""

    train: int
    test: int
    # distinct caption token ids the source can give (its ``caption_tokens`` hook); None: unknown,
    # then a caption decoder is budgeted at the largest vocabulary its training captions allow
    tokens: int | None = None

    @property
    def total(self) -> int:
        return self.train + self.test


def _fmt(x: float) -> str:
    """1.2e10-style for large numbers, plain for small ones."""
    if x < 1e5:
        return f"{x:.0f}" if float(x).is_integer() else f"{x:.3g}"
    mantissa, exponent = f"{x:.2g}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _gib(n_bytes: float) -> str:
    gib = n_bytes / GIB
    if gib < 0.1:
        return f"{n_bytes / 2**20:.0f} MiB"
    return f"{gib:,.0f} GiB" if gib >= 100 else f"{gib:.3g} GiB"


def _blame(factors: dict[str, float]) -> str:
    return max(factors, key=lambda k: factors[k] / _TYPICAL.get(k, 1))


# --------------------------------------------------------------------------- sizes

@dataclass(frozen=True)
class Sent:
    """What one transmission puts on the channel for one test instance and draw."""

    tx: "Transmission"
    vectors: int  # V of the payload (a files scheme's: the embeddings the receiver reads)
    values: int  # T per vector
    cost: "LinkCost"  # per instance, as the link counts it

    @property
    def uses(self) -> int:  # channel uses per instance
        return self.cost.uses

    def symbols(self, kind: str) -> int:
        """Channel symbols per instance through a preset of this SINR ``kind`` (:func:`preset_sinr_kinds`):
        the link's ``sinr_symbols`` (one SINR per vector) or ``law_symbols`` (i.i.d. SINRs) where it
        counts them, else every use."""
        fewer = {"block": self.cost.sinr_symbols, "iid": self.cost.law_symbols}.get(kind)
        return self.uses if fewer is None else fewer


def plan_sizes(scenario: "Scenario", shapes: dict[str, tuple[int, ...]]) -> list[Sent]:
    """What each transmission sends per instance; ``shapes``: the modalities' input shapes (a
    files scheme's file sizes are bounded from them)."""
    from ..links.base import LinkCost
    from ..transmitter.payload import rfs_size
    from ..transmitter.plan import transmissions

    m, d = len(scenario.data.modalities), scenario.embedding_dim
    out = []
    for tx in transmissions(scenario):
        t, scheme, link = rfs_size(d, tx.keep), tx.payload.scheme, tx.link
        if scheme.sends_files:
            cost = link.cls.files_cost(link.options, scheme.max_file_bytes({k: shapes[k] for k in scenario.data.modalities}))
        else:
            one, v = link.cls.cost(link.options, t), scheme.vectors(m)
            cost = LinkCost(v * one.uses, v * one.decoded_bits, one.iterations,
                            None if one.sinr_symbols is None else v * one.sinr_symbols,
                            None if one.law_symbols is None else v * one.law_symbols)
        out.append(Sent(tx, scheme.vectors(m), t, cost))
    return out


# --------------------------------------------------------------------------- work

def training_passes(scenario: "Scenario") -> int:
    """Copies of the training set a noise-aware receiver sends through a channel, per transmission:
    train_draws per training preset (one, or each tested preset); 0 for clean-trained receivers."""
    rx = scenario.receiver
    if rx.train_snr_db is None:
        return 0
    return rx.train_draws * (1 if rx.train_channel else len(scenario.channel.presets))


def channel_symbols(scenario: "Scenario", counts: Counts, sizes: list[Sent], kinds: tuple[str, ...]) -> int:
    s, r = len(scenario.channel.snr_values()), scenario.channel.mc_draws
    passes = training_passes(scenario)
    return sum(s * r * counts.test * x.symbols(kind) for x in sizes for kind in kinds) + \
        sum(passes * counts.train * x.uses for x in sizes)


def ldpc_bit_iterations(scenario: "Scenario", counts: Counts, sizes: list[Sent]) -> int:
    s, r, p = len(scenario.channel.snr_values()), scenario.channel.mc_draws, len(scenario.channel.presets)
    passes = training_passes(scenario)
    return sum((s * r * p * counts.test + passes * counts.train) * x.cost.decoded_bits * x.cost.iterations
               for x in sizes)


def payload_variants(sizes: list[Sent]) -> list[Sent]:
    seen: dict[tuple[str, int], Sent] = {}
    for x in sizes:
        seen.setdefault((x.tx.payload.key, x.values), x)
    return list(seen.values())


def training_epochs(scenario: "Scenario") -> dict[str, int]:
    """Epochs over the training set of each encoder training stage, by the field that sets them."""
    t = scenario.training
    epochs = {"training.epochs": t.epochs}
    if t.warmup is not None:
        epochs["training.warmup.epochs"] = t.warmup.epochs
    if t.through_channel is not None:
        epochs["training.through_channel.epochs"] = t.through_channel.epochs
    return epochs


def training_samples(scenario: "Scenario", counts: Counts) -> int:
    return sum(training_epochs(scenario).values()) * counts.train


def decoder_samples(scenario: "Scenario", counts: Counts, sizes: list[Sent]) -> int:
    rec = scenario.receiver.reconstruction
    copies = training_passes(scenario) or 1
    return rec.epochs * counts.train * copies * len(rec.decoders) * len(payload_variants(sizes))


# --------------------------------------------------------------------------- memory

def memory_parts(scenario: "Scenario", counts: Counts, shapes: dict[str, tuple[int, ...]],
                 enc_params: dict[str, int | None], dec_params: dict[str, int | None],
                 sizes: list[Sent], kinds: tuple[str, ...]) -> dict[str, float]:
    """Bytes of each part of the estimate (see the module docstring)."""
    b = 8 if scenario.dtype == "float64" else 4
    n, n_tr, n_te = counts.total, counts.train, counts.test
    mods = scenario.data.modalities
    s, r = len(scenario.channel.snr_values()), scenario.channel.mc_draws
    parts = {"base": float(BASE_BYTES)}
    parts["data"] = float(n * sum(math.prod(shapes.get(m, (1,))) for m in mods) * DATA_BYTES_PER_VALUE)
    parts["encoders"] = float(sum(p or 0 for p in enc_params.values()) * b * ADAM_COPIES)
    parts["embeddings"] = float(n * len(mods) * scenario.embedding_dim * b * 2)
    variants = payload_variants(sizes)
    parts["payloads"] = float(sum(n * x.vectors * x.values * b for x in variants))
    # a noise-aware receiver fits on train_draws noisy copies of the training payloads
    copies = scenario.receiver.train_draws if scenario.receiver.train_snr_db is not None else 1
    parts["classifier fit"] = float(max((copies * n_tr * x.vectors * x.values * HEAD_BYTES_PER_VALUE
                                         for x in variants), default=0))
    every = "block" if all(k == "block" for k in kinds) else "symbol"  # chunk_bytes bounds the per-symbol slices
    parts["channel"] = float(max((x.tx.link.cls.chunk_bytes(x.tx.link.options, s * n_te * x.symbols(every),
                                                             r, s * r * n_te * x.vectors * x.values, b)
                                  for x in sizes), default=0))
    if scenario.receiver.reconstruction.decoders:
        targets = sum(math.prod(decoder_target_shape(spec.name, shapes[m], scenario.encoders.get(m)))
                      for m, spec in scenario.receiver.reconstruction.decoders.items() if m in shapes)
        # every variant's decoders are kept for the channel stage; one is in training at a time (gradients, Adam)
        weights = sum(p or 0 for p in dec_params.values()) * b * (len(variants) + ADAM_COPIES - 1)
        parts["decoders"] = float(weights + n * targets * b * 2)
    if scenario.training.warmup is not None:
        sizes_w = compression_decoder_sizes(scenario, shapes, counts.train, counts.tokens, enc_params)
        parts["warm-up decoders"] = float(sum((p or 0) * b * ADAM_COPIES + n_tr * t * b
                                              for p, t in sizes_w.values()))
    return parts


# --------------------------------------------------------------------------- the check

@dataclass(frozen=True)
class Estimate:
    """Everything ``check`` compares with the limits (also what the calibration table reports)."""

    counts: Counts
    memory: dict[str, float]
    encoder_params: dict[str, int | None]
    channel_symbols: int
    ldpc_bit_iterations: int
    training_samples: int
    decoder_samples: int
    snr_points: int
    ldpc_iterations: int = 0  # the most decoder iterations of any transmission

    @property
    def memory_bytes(self) -> float:
        return sum(self.memory.values())


def estimate(scenario: "Scenario", counts: Counts, shapes: dict[str, tuple[int, ...]],
             enc_params: dict[str, int | None] | None = None, kinds: tuple[str, ...] | None = None) -> Estimate:
    """``kinds``: per preset of channel.presets, how its channel's SINR varies within a vector
    (:func:`preset_sinr_kinds`); None counts every preset as "symbol" (every use a symbol: a bound)."""
    sizes = plan_sizes(scenario, shapes)
    if kinds is None:
        kinds = ("symbol",) * len(scenario.channel.presets)
    if enc_params is None:
        enc_params = encoder_parameters(scenario, shapes)
    has_decoders = bool(scenario.receiver.reconstruction.decoders)
    widest = max((x.values for x in payload_variants(sizes)), default=1)
    dec_params = decoder_parameters(scenario, shapes, counts.train, counts.tokens, widest) if has_decoders else {}
    return Estimate(counts, memory_parts(scenario, counts, shapes, enc_params, dec_params, sizes, kinds), enc_params,
                    channel_symbols(scenario, counts, sizes, kinds), ldpc_bit_iterations(scenario, counts, sizes),
                    training_samples(scenario, counts), decoder_samples(scenario, counts, sizes),
                    len(scenario.channel.snr_values()), max((x.cost.iterations for x in sizes), default=0))


def _over(source: str, field: str, what: str, limit: float, name: str) -> UserError:
    return UserError(f"{what}, over the limit of {_fmt(limit)} (raise limits.{name} to allow it)",
                     source=source, field=field)


def check(scenario: "Scenario", est: Estimate, source: str) -> None:
    """Raise a one-line UserError for the first budget the estimate exceeds."""
    lim = scenario.limits
    ch = scenario.channel
    if est.snr_points > lim.snr_points:
        raise _over(source, "channel.snr_db", f"the run has {est.snr_points} SNR points", lim.snr_points,
                    "snr_points")
    factors = {"channel.snr_db": est.snr_points, "channel.mc_draws": ch.mc_draws, "channel.presets": len(ch.presets),
               "embedding_dim": scenario.embedding_dim, "transmitter.rfs_keep": len(scenario.transmitter.rfs_keep),
               "data": est.counts.test}
    if scenario.receiver.train_snr_db is not None:
        factors["receiver.train_draws"] = scenario.receiver.train_draws
    if est.channel_symbols > lim.channel_symbols:
        raise _over(source, _blame(factors), f"the run would send {_fmt(est.channel_symbols)} channel symbols",
                    lim.channel_symbols, "channel_symbols")
    if est.ldpc_bit_iterations > lim.ldpc_bit_iterations:
        factors["transmitter.links"] = est.ldpc_iterations
        raise _over(source, _blame(factors), f"the links would decode {_fmt(est.ldpc_bit_iterations)} "
                    "coded bits x LDPC iterations", lim.ldpc_bit_iterations, "ldpc_bit_iterations")
    if est.training_samples > lim.training_samples:
        epochs = training_epochs(scenario)
        raise _over(source, max(epochs, key=epochs.get), f"training would pass {_fmt(est.training_samples)} "
                    f"samples ({' + '.join(str(e) for e in epochs.values())} epochs x {est.counts.train} instances)",
                    lim.training_samples, "training_samples")
    if est.decoder_samples > lim.training_samples:
        raise _over(source, "receiver.train_draws" if training_passes(scenario) > 4 else "receiver.reconstruction.epochs", f"decoder training would pass "
                    f"{_fmt(est.decoder_samples)} samples", lim.training_samples, "training_samples")
    if est.memory_bytes > lim.memory_gib * GIB:
        part = max((k for k in est.memory if k != "base"), key=lambda k: est.memory[k])
        raise UserError(
            f"the run would need about {_gib(est.memory_bytes)} of memory (largest part: {part}, "
            f"{_gib(est.memory[part])}), over the limit of {lim.memory_gib:g} GiB "
            f"(raise limits.memory_gib to allow it)", source=source, field=_memory_field(scenario, est, part))


def _memory_field(scenario: "Scenario", est: Estimate, part: str) -> str:
    if part == "data":
        return "data"
    if part == "encoders":
        return f"encoders.{max(est.encoder_params, key=lambda m: est.encoder_params[m] or 0)}.options"
    if part == "decoders":
        return "receiver.reconstruction.decoders"
    if part == "warm-up decoders":
        return "training.warmup.decoders"
    if part == "channel":
        return _blame({"channel.snr_db": est.snr_points, "channel.mc_draws": scenario.channel.mc_draws,
                       "embedding_dim": scenario.embedding_dim, "data": est.counts.test})
    if part == "classifier fit" and scenario.receiver.train_snr_db is not None:
        return _blame({"receiver.train_draws": scenario.receiver.train_draws,
                       "embedding_dim": scenario.embedding_dim, "data": est.counts.test})
    return "embedding_dim"  # embeddings, payloads, classifier fit


def source_tokens(source: "DataSource", scenario: "Scenario") -> int | None:
    """The source's bound on distinct caption token ids (``DataSource.caption_tokens``), asked only
    where a decoder may need it: it runs the tokenizer, which validation otherwise never loads."""
    if not (scenario.receiver.reconstruction.decoders or scenario.training.warmup is not None):
        return None
    tokens = source.caption_tokens()
    return None if tokens is None else int(tokens)


def estimate_scenario(scenario: "Scenario") -> Estimate | None:
    """The estimate of a scenario that already passed ``check_scenario`` (None when its data source
    cannot count instances); for reports and calibration."""
    from ..data import SOURCES

    source = SOURCES[scenario.data.source](**scenario.data.options)
    sizes = source.instance_counts(scenario.data.test_fraction, scenario.data.limit)
    if sizes is None:
        return None
    counts = Counts(*sizes, source_tokens(source, scenario))
    return estimate(scenario, counts, source.input_shapes(), kinds=preset_sinr_kinds(scenario))


def preset_sinr_kinds(scenario: "Scenario", path=None) -> tuple[str, ...]:
    """Per preset of channel.presets (resolved beside the scenario file ``path``), how its channel's
    SINR varies within a vector: "block" (one SINR per vector, ``Channel.one_sinr_per_block``),
    "iid" (i.i.d. per symbol, ``Channel.iid_sinr_per_symbol``) or "symbol"; the presets must have
    passed their checks."""
    from ..channel import CHANNELS
    from .presets import channel_preset_path, read_channel_preset

    def kind(model: str, options: dict) -> str:
        if CHANNELS[model].one_sinr_per_block(**options):
            return "block"
        return "iid" if CHANNELS[model].iid_sinr_per_symbol(**options) else "symbol"

    return tuple(kind(p.model, p.options) for p in (read_channel_preset(channel_preset_path(ref, path))
                                                     for ref in scenario.channel.presets))
