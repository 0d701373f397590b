"""The scenario schema: typed, frozen models of a scenario file and a channel preset file (the
``training`` section's models are in :mod:`.training`, the shared building blocks in :mod:`.fields`).

A leaf with its two siblings: it imports nothing else of semcom_sim, so every component may import
its models. Reading the YAML is :mod:`.reading`, finding presets :mod:`.presets`, the checks that
need the registries :mod:`.checks`, the budgets :mod:`.budget`.
"""
from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from .fields import DecoderSpec, Frozen, Options, SnrSpec, check_snr_spec
from .training import TrainingConfig


class EncoderSpec(Frozen):
    name: str = Field(description="the encoder, a name in the encoder registry (`semcom-sim validate` lists them)")
    options: Options = Field(default_factory=dict, description="constructor keywords of that encoder")


class DataConfig(Frozen):
    source: str = Field("digits", description="the data source, a name in the data-source registry")
    modalities: tuple[str, ...] = Field(("image", "audio", "text"), description=(
        "the modalities used, at least two, distinct; each needs an entry in `encoders`"))
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0, description="fraction of the instances held out for testing")
    limit: int | None = Field(None, ge=20, le=10**9, description=(
        "use a stratified subset of this many instances (tiny runs); None: all"))
    options: Options = Field(default_factory=dict, description="source-specific keywords")
    cache_dir: str | None = Field(None, description=(
        "where data and models are cached; None: $SEMCOM_SIM_CACHE or ~/.cache/semcom-sim"))

    @field_validator("modalities")
    @classmethod
    def _distinct(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(v) < 2:
            raise ValueError("needs at least two modalities")
        if len(set(v)) != len(v):
            raise ValueError("modalities must be distinct")
        return v


_LABEL = r"^[A-Za-z0-9_][A-Za-z0-9_.+=-]*$"  # results.csv values and plot file names


class ComponentSpec(Frozen):
    """A scheme or a link as the scenario names it: a bare registered name (its defaults), or
    ``{name: NAME, options: {...}}`` with options its own model validates (``semcom-sim validate``
    names a bad one), and an optional ``label``: its name in results.csv and the plots (default:
    the name), so that one link or scheme can be listed twice with different options."""

    name: str = Field(description="registered name (`validate` lists the known ones for an unknown name)")
    label: str | None = Field(None, pattern=_LABEL, max_length=64,
                              description="its name in results.csv and the plots; default: name")
    options: Options = Field(default_factory=dict, description="the component's own options")

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str) else v

    @property
    def shown(self) -> str:
        return self.label or self.name


def _distinct_labels(v: tuple[ComponentSpec, ...]) -> tuple[ComponentSpec, ...]:
    if not v:
        raise ValueError("must not be empty")
    seen: set[str] = set()
    for spec in v:
        if spec.shown in seen:
            raise ValueError(f"{spec.shown!r} is listed twice; give one of them a label: (its name in results.csv)")
        seen.add(spec.shown)
    return v


class TransmitterConfig(Frozen):
    schemes: tuple[ComponentSpec, ...] = Field((ComponentSpec(name="conventional"), ComponentSpec(name="centroid")),
                                               description=("the schemes compared: names in the scheme registry "
                                                            "(transmitter/schemes.py), or {name, options, label}"))
    rfs_keep: tuple[float, ...] = Field((1.0,), description=(
        "random-feature-selection keep fractions, each in (0, 1]: T = round(keep * D) coordinates sent"))
    links: tuple[ComponentSpec, ...] = Field((ComponentSpec(name="analog"),), description=(
        "the links compared: names in the link registry (semcom_sim/links/), or {name, options, label}"))
    equal_bandwidth: tuple[Literal["rfs", "bits", "code_rate"], ...] = Field((), description=(
        "centroid variants that spend the conventional scheme's M-fold channel uses: on M times the RFS "
        "dimensions (rfs), or as each link can (the digital link: M times the bits per value, or a code "
        "rate M times lower; the analog link has no such variant)"))

    _labels = field_validator("schemes", "links")(classmethod(lambda cls, v: _distinct_labels(v)))

    @field_validator("rfs_keep")
    @classmethod
    def _nonempty(cls, v: tuple) -> tuple:
        if not v:
            raise ValueError("must not be empty")
        return v

    @field_validator("rfs_keep")
    @classmethod
    def _fraction(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        for f in v:
            if not (0.0 < f <= 1.0):
                raise ValueError(f"keep fraction {f} is outside (0, 1]")
        return v


class SnrRange(Frozen):
    start: float = Field(description="first SNR point, dB")
    stop: float = Field(description="last SNR point, dB")
    num: int = Field(ge=1, le=1_000_000, description=(
        "number of evenly spaced points from start to stop (limits.snr_points bounds it further)"))

    def values(self) -> tuple[float, ...]:
        if self.num == 1:
            return (self.start,)
        step = (self.stop - self.start) / (self.num - 1)
        return tuple(round(self.start + i * step, 6) for i in range(self.num))


class ChannelConfig(Frozen):
    presets: tuple[str, ...] = Field(("awgn",), description=(
        "the channels tested: preset names (`semcom-sim presets` lists them) or paths to preset YAML files"))
    snr_db: tuple[float, ...] | SnrRange = Field(description=(
        "the SNR points in dB, a list or {start, stop, num}: Es/N0 (snr_reference: symbol) or E_inst/N0 "
        "(instance)"))
    mc_draws: int = Field(10, ge=1, le=10**9, description="channel realisations per test instance and SNR point")
    snr_reference: Literal["symbol", "instance"] = Field("symbol", description=(
        "what the SNR values mean: the energy of one channel use over N0 (symbol: every scheme at the same "
        "per-symbol SNR), or of one whole instance (instance: every scheme spends the same energy per "
        "instance; each one's per-symbol SNR is lower by 10 log10 of its channel uses per instance)"))

    @field_validator("presets")
    @classmethod
    def _presets(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("must not be empty")
        return v

    @field_validator("snr_db")
    @classmethod
    def _snr(cls, v):
        vals = v.values() if isinstance(v, SnrRange) else v
        if not vals:
            raise ValueError("the SNR list is empty")
        if not all(math.isfinite(x) for x in vals):
            raise ValueError("SNR values must be finite")
        return v

    def snr_values(self) -> tuple[float, ...]:
        return self.snr_db.values() if isinstance(self.snr_db, SnrRange) else self.snr_db


class ReconstructionConfig(Frozen):
    decoders: dict[str, DecoderSpec] = Field(default_factory=dict, description=(
        "modality -> decoder; each reads the centroid (centroid scheme) or its own modality's vector "
        "(conventional); empty: the receiver only classifies"))
    epochs: int = Field(30, ge=1, le=10**9, description="training epochs of the decoders")
    lr: float = Field(3e-3, gt=0.0, description="learning rate of the decoders (Adam)")
    batch_size: int = Field(128, ge=2, le=1 << 20, description="mini-batch size of the decoders' training")
    example_snr_db: tuple[float, ...] | None = Field(None, description=(
        "SNRs of the example picture of reconstructions; None: the first and last SNR points"))
    pairs: int | None = Field(2000, ge=1, description=(
        "the decoders' budget of (instance, draw) pairs per SNR point: where the test set times mc_draws "
        "exceeds it, each draw decodes and scores its own seeded sample of ceil(pairs / mc_draws) test "
        "instances (consecutive blocks of one seeded permutation: every instance is scored about equally "
        "often), else every instance in every draw; the noiseless row scores every test instance where the "
        "test set fits in it. None: always every instance. Standard error of acc_recon at most "
        "0.5/sqrt(pairs)"))


class ReceiverConfig(Frozen):
    head: str = Field("logistic", description=(
        "classifier on the received payload, a name in receiver/heads.py's HEADS"))
    l2: float = Field(1e-3, ge=0.0, description="ridge penalty of the head (inverse of scikit-learn's C)")
    reconstruction: ReconstructionConfig = Field(default_factory=ReconstructionConfig, description=(
        "decoders that rebuild each modality's input from the received payload"))
    train_snr_db: SnrSpec | None = Field(None, description=(
        "noise-aware receivers: heads and decoders fitted on training payloads that crossed a channel at "
        "this SNR (in the run's snr_reference): one value, a list (each example draws one of them), or "
        "{start, stop} (a uniform draw per example); None: on clean payloads"))
    train_channel: str | None = Field(None, description=(
        "the preset the noise-aware receivers' training payloads cross; None: each tested preset gets its own"))
    train_draws: int = Field(4, ge=1, le=10_000, description="noisy copies of each training instance")
    retrieval_queries: int | None = Field(4000, ge=1, description=(
        "the retrieval measures' budget of queries. r1, r5: (query, draw) pairs per SNR point; where the "
        "test set times mc_draws exceeds it, each draw ranks its own seeded sample of "
        "ceil(retrieval_queries / mc_draws) test instances against the full gallery of every test instance, "
        "else every instance in every draw. The latent summary's cross-modal retrieval, the rows of its "
        "uniformity's pairs and the instances its k-means clusters: a seeded sample of this many test "
        "instances where the test set is larger. "
        "None: always every instance (exact, O(N_test^2) per SNR point and draw). Standard error of r_k "
        "at most 0.5/sqrt(retrieval_queries)"))

    _train_snr = field_validator("train_snr_db", mode="before")(classmethod(lambda cls, v: check_snr_spec(v)))


class LimitsConfig(Frozen):
    """Budgets checked before any work (semcom_sim.scenario.budget has the formulas); raise one explicitly,
    e.g. ``--set limits.memory_gib=64``, for a run that really needs more."""

    memory_gib: float = Field(8.0, gt=0.0, description="estimated peak memory, GiB (host, or GPU on cuda)")
    channel_symbols: float = Field(2e10, gt=0.0, description="complex symbols a run sends through channels")
    ldpc_bit_iterations: float = Field(1e10, gt=0.0, description=(
        "coded bits x belief-propagation iterations decoded"))
    training_samples: float = Field(1e8, gt=0.0, description=(
        "epochs x training instances (encoders; the decoders apart)"))
    snr_points: int = Field(1000, ge=1, description="SNR points of a run")


class Scenario(Frozen):
    name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.+=-]*$", max_length=128, description=(
        "the run's name, a folder name under runs/: no path separators, no leading dot"))
    # numpy's SeedSequence takes non-negative seeds
    seed: int = Field(0, ge=0, lt=2**63, description="seed of every random stream of the run")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="where tensors live; auto: cuda if available")
    dtype: Literal["float32", "float64"] = Field("float32", description="real dtype of the run's tensors")
    embedding_dim: int = Field(64, ge=2, le=1 << 20, description="D, the dimension of the shared embedding space")
    data: DataConfig = Field(default_factory=DataConfig, description="the data source and its split")
    encoders: dict[str, EncoderSpec] = Field(description=(
        "one encoder per modality; those not in data.modalities are unused"))
    training: TrainingConfig = Field(description="how the encoders are trained")
    transmitter: TransmitterConfig = Field(default_factory=TransmitterConfig, description=(
        "what is sent: schemes, RFS fractions, links"))
    channel: ChannelConfig = Field(description="the channels and SNR points tested")
    receiver: ReceiverConfig = Field(default_factory=ReceiverConfig, description=(
        "the classification head and the decoders at the receiver"))
    limits: LimitsConfig = Field(default_factory=LimitsConfig, description="budgets checked before any work")


class ChannelPreset(Frozen):
    """A channel preset file: a name, a model in the channel registry and that model's options,
    which go to its constructor as they are (``semcom-sim presets`` lists the shipped ones)."""

    name: str = Field(description="the preset's name")
    model: str = Field(description="the channel model, a name in the channel registry (semcom_sim/channel/)")
    options: Options = Field(default_factory=dict, description="constructor keywords of that model")
