"""Scenario files: typed, frozen configuration parsed from YAML (the schema and its loading).

Every user mistake becomes a :class:`UserError` naming the file and the dotted field.
This module is a leaf: it imports nothing of semcom_sim but :mod:`semcom_sim.errors`, so every
component may import its models. The checks that need the registries and budgets (names of
sources, encoders, channel models, their options, memory) live above the components, in
:mod:`semcom_sim.checks`; :func:`semcom_sim.checks.load_checked_scenario` is parse + check.
"""
from __future__ import annotations

import math
import stat
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator,
                      model_validator)

from .errors import UserError

# A scenario, preset or experiment file is a few kilobytes; these bound what a hostile or broken one
# can cost before validation refuses it.
MAX_FILE_BYTES = 1 << 20
MAX_YAML_VALUES = 100_000  # nodes once aliases are expanded (an alias bomb expands exponentially)
MAX_YAML_TEXT = 4 << 20  # characters of strings once aliases are expanded
MAX_YAML_DEPTH = 64


class _Frozen(BaseModel):
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


class EncoderSpec(_Frozen):
    name: str  # key in the encoder registry
    options: Options = Field(default_factory=dict)  # constructor keywords of that encoder


class DataConfig(_Frozen):
    source: str = "digits"  # key in the data-source registry
    modalities: tuple[str, ...] = ("image", "audio", "text")
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    limit: int | None = Field(None, ge=20, le=10**9)  # use a stratified subset of this many instances (tiny runs)
    options: Options = Field(default_factory=dict)  # source-specific keywords
    cache_dir: str | None = None  # default: $SEMCOM_SIM_CACHE or ~/.cache/semcom-sim

    @field_validator("modalities")
    @classmethod
    def _distinct(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(v) < 2:
            raise ValueError("needs at least two modalities")
        if len(set(v)) != len(v):
            raise ValueError("modalities must be distinct")
        return v


class WeightSchedule(_Frozen):
    """A loss weight over training, in fractions of the training epochs (so it scales with
    ``training.epochs``; epoch e of E is at fraction e / E, e from 0): ``constant`` holds ``weight``;
    ``linear`` holds ``weight`` until fraction ``start``, moves linearly to ``end_weight`` at fraction
    ``end`` and holds ``end_weight`` after it."""

    schedule: Literal["constant", "linear"] = "constant"
    weight: float = Field(1.0, ge=0.0)
    end_weight: float | None = Field(None, ge=0.0)  # linear only
    start: float | None = Field(None, ge=0.0, le=1.0)  # linear only: fraction of training
    end: float | None = Field(None, ge=0.0, le=1.0)  # linear only: fraction of training

    @model_validator(mode="after")
    def _fields_of_the_schedule(self) -> "WeightSchedule":
        linear = ("end_weight", "start", "end")
        if self.schedule == "constant":
            given = [k for k in linear if getattr(self, k) is not None]
            if given:
                raise ValueError(f"{given[0]} applies to a linear schedule only (schedule: linear)")
            return self
        missing = [k for k in linear if getattr(self, k) is None]
        if missing:
            raise ValueError(f"a linear schedule needs {', '.join(missing)} (e.g. {{schedule: linear, weight: 1.0, "
                             f"end_weight: 2.0, start: 0.5, end: 1.0}})")
        if self.start >= self.end:
            raise ValueError(f"start {self.start:g} must be below end {self.end:g} (fractions of training)")
        return self

    def at(self, fraction: float) -> float:
        """The weight at ``fraction`` of training (0: first epoch, 1: end)."""
        if self.schedule == "constant" or fraction <= self.start:
            return self.weight
        if fraction >= self.end:
            return self.end_weight
        return self.weight + (self.end_weight - self.weight) * (fraction - self.start) / (self.end - self.start)


# The schedules of the papers' authors' public code (ispamm/ModGap, 100 epochs: alignment weight 1
# until epoch 50, rising linearly to 2 at epoch 100; centroid-uniformity weight 1 until epoch 20,
# falling linearly to 0 at epoch 70), in fractions of training
MODGAP_ALIGNMENT = WeightSchedule(schedule="linear", weight=1.0, end_weight=2.0, start=0.5, end=1.0)
MODGAP_UNIFORMITY = WeightSchedule(schedule="linear", weight=1.0, end_weight=0.0, start=0.2, end=0.7)

_CUSTOM_ONLY = ("alignment_weight", "uniformity_weight")


class GapLossConfig(_Frozen):
    """The gap-closing terms of METHOD.md section 5 beside InfoNCE: alpha(t) L_align + beta(t) L_CU.

    ``recipe``: ``paper`` is lambda (L_ATP + L_CU) at a constant lambda = ``weight``; ``modgap`` the
    authors' schedules (MODGAP_ALIGNMENT, MODGAP_UNIFORMITY); ``custom`` the schedules given in
    ``alignment_weight`` and ``uniformity_weight``."""

    enabled: bool = False  # add the gap-closing terms
    recipe: Literal["paper", "modgap", "custom"] = "paper"
    weight: float = Field(1.0, ge=0.0)  # lambda of recipe paper
    anchor: str = "image"  # anchor modality of L_ATP (alignment: anchor)
    # anchor: every modality aligned to the anchor (L_ATP, the paper); pairwise: every pair aligned
    # (mean over the M (M - 1) / 2 pairs); the same for M = 2
    alignment: Literal["anchor", "pairwise"] = "anchor"
    alignment_weight: WeightSchedule | None = Field(None, validate_default=True)  # recipe custom: alpha(t)
    uniformity_weight: WeightSchedule | None = Field(None, validate_default=True)  # recipe custom: beta(t)

    @field_validator("weight")
    @classmethod
    def _weight_is_paper_only(cls, v: float, info: ValidationInfo) -> float:
        recipe = info.data.get("recipe")
        if recipe not in (None, "paper") and v != 1.0:
            raise ValueError(f"weight (lambda) belongs to recipe paper; recipe {recipe} sets its own weights "
                             f"(recipe custom takes alignment_weight and uniformity_weight)")
        return v

    @field_validator(*_CUSTOM_ONLY)
    @classmethod
    def _schedules_are_custom_only(cls, v: WeightSchedule | None, info: ValidationInfo):
        recipe = info.data.get("recipe")
        if recipe == "custom" and v is None:
            raise ValueError(f"recipe custom needs {info.field_name} (e.g. {{schedule: constant, weight: 1.0}})")
        if recipe in ("paper", "modgap") and v is not None:
            raise ValueError(f"{info.field_name} belongs to recipe custom; recipe {recipe} sets its own weights")
        return v

    def weights(self, fraction: float) -> tuple[float, float]:
        """(alignment weight, uniformity weight) at ``fraction`` of training; (0, 0) when disabled."""
        if not self.enabled:
            return 0.0, 0.0
        if self.recipe == "paper":
            return self.weight, self.weight
        if self.recipe == "modgap":
            return MODGAP_ALIGNMENT.at(fraction), MODGAP_UNIFORMITY.at(fraction)
        return self.alignment_weight.at(fraction), self.uniformity_weight.at(fraction)


class TrainSnrRange(_Frozen):
    """A uniform draw of the training SNR per training example, in dB."""

    start: float
    stop: float


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


class ThroughChannelConfig(_Frozen):
    """End-to-end fine-tuning of the trained encoders through a differentiable channel (the JSCC
    step): the encoders and a linear head on the received payload of ``scheme`` (all D dimensions,
    analog link) learn together on the classification loss (times ``weight``) plus the contrastive
    loss at the scenario's tau (and its gap loss, if enabled)."""

    preset: str = "awgn"  # the channel the payloads cross
    snr_db: SnrSpec = 0.0  # per channel use: a number, a list, or {start, stop} drawn per example
    epochs: int = Field(5, ge=1, le=10**6)
    lr: float = Field(1e-4, gt=0.0)
    scheme: str = "centroid"  # a registered scheme: whose payload crosses the channel
    weight: float = Field(1.0, ge=0.0)  # of the classification loss, beside the contrastive loss

    _snr = field_validator("snr_db", mode="before")(classmethod(lambda cls, v: check_snr_spec(v)))


class DecoderSpec(_Frozen):
    name: str  # key in the decoder registry
    options: Options = Field(default_factory=dict)  # constructor keywords of that decoder


class WarmupConfig(_Frozen):
    """A compression stage before the contrastive one (CoMa, "Compression then Matching", 2025): each
    encoder learns, with a light decoder of the receiver's registry, to rebuild its own modality's
    input from its D-dim unit-norm embedding; the contrastive stage then starts from those weights.

    The stage's loss is ``weight * L_rec + (1 - weight) * L_InfoNCE(tau)``, L_rec the mean over the
    warmed-up modalities of each decoder's own ``loss`` on its ``target_for`` targets, tau the
    scenario's ``training.temperature`` (no gap terms). ``weight`` 1 is pure compression, as in CoMa;
    a lower weight blends matching in. It is a blend rather than a factor on L_rec alone because Adam
    normalises each parameter's step by its gradient's running scale: a bare multiplier on the only
    loss of a stage would change nothing.

    ``decoders``: modality -> the decoder that rebuilds it; a modality left out gets the decoder
    ``receiver.reconstruction.decoders`` names for it, else the default for what its encoder reads
    (``training.stages.compression.DEFAULT_DECODERS``: image_mlp for images, logmel_mlp for audio, caption_tokens
    for captions, field_mlp otherwise). The decoders are thrown away after the stage. An encoder
    without trainable parameters (``identity``) is not warmed up."""

    epochs: int = Field(ge=1, le=10**9)  # limits.training_samples bounds it further, with training.epochs
    objective: Literal["reconstruction"] = "reconstruction"
    weight: float = Field(1.0, ge=0.0, le=1.0)  # of L_rec; 1 - weight goes to InfoNCE
    decoders: dict[str, DecoderSpec] | None = None
    lr: float | None = Field(None, gt=0.0)  # None: training.lr


class TrainingConfig(_Frozen):
    temperature: float = Field(gt=0.0)  # fixed InfoNCE temperature tau (never learned)
    epochs: int = Field(30, ge=1, le=10**9)  # limits.training_samples bounds it further
    batch_size: int = Field(128, ge=2, le=1 << 20)
    lr: float = Field(1e-3, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    gap_loss: GapLossConfig = Field(default_factory=GapLossConfig)
    # learning rate per optimiser step: a linear warm-up over the first warmup_fraction of the steps,
    # then constant, or a cosine decay to 0 at the last step
    lr_schedule: Literal["constant", "cosine"] = "constant"
    warmup_fraction: float = Field(0.0, ge=0.0, lt=1.0)
    # None: the encoders are trained by the contrastive stage only (see ThroughChannelConfig)
    through_channel: ThroughChannelConfig | None = None
    # None: the contrastive stage starts from the initial weights (see WarmupConfig); not the
    # learning-rate warm-up of warmup_fraction
    warmup: WarmupConfig | None = None


class DigitalConfig(_Frozen):
    bits: int = Field(4, ge=1, le=16)  # uniform quantiser bits per payload value
    code_rate: float = Field(0.5, gt=0.0, lt=1.0)  # 5G LDPC code rate
    bits_per_symbol: int = Field(4, ge=2, le=12)  # QAM order 2**bits_per_symbol (2: QPSK, 4: 16-QAM)
    ldpc_iterations: int = Field(20, ge=1, le=10_000)  # belief-propagation iterations


class TransmitterConfig(_Frozen):
    schemes: tuple[str, ...] = ("conventional", "centroid")  # names in the scheme registry (transmitter/schemes.py)
    rfs_keep: tuple[float, ...] = (1.0,)  # random-feature-selection keep fractions
    links: tuple[str, ...] = ("analog",)  # names in the link registry (semcom_sim/links/)
    digital: DigitalConfig = Field(default_factory=DigitalConfig)
    # centroid variants that spend the conventional scheme's M-fold channel uses: on M times the RFS
    # dimensions, on M times the bits per value, or on a code rate M times lower (digital only)
    equal_bandwidth: tuple[Literal["rfs", "bits", "code_rate"], ...] = ()

    @field_validator("schemes", "rfs_keep", "links")
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


class SnrRange(_Frozen):
    start: float
    stop: float
    num: int = Field(ge=1, le=1_000_000)  # limits.snr_points bounds it further

    def values(self) -> tuple[float, ...]:
        if self.num == 1:
            return (self.start,)
        step = (self.stop - self.start) / (self.num - 1)
        return tuple(round(self.start + i * step, 6) for i in range(self.num))


class ChannelSweepConfig(_Frozen):
    presets: tuple[str, ...] = ("awgn",)  # preset names (semcom-sim presets lists them) or paths to preset YAML files
    snr_db: tuple[float, ...] | SnrRange  # Es/N0 in dB (snr_reference: symbol) or E_inst/N0 (instance)
    mc_draws: int = Field(10, ge=1, le=10**9)  # channel realisations per test instance and SNR point
    # what the sweep's SNR values mean: the energy of one channel use over N0 (every scheme at the
    # same per-symbol SNR), or of one whole instance (every scheme spends the same energy per instance;
    # each one's per-symbol SNR is lower by 10 log10 of its channel uses per instance)
    snr_reference: Literal["symbol", "instance"] = "symbol"

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


class ReconstructionConfig(_Frozen):
    # modality -> decoder; each reads the centroid (centroid scheme) or its own modality's vector
    # (conventional); empty: the receiver only classifies
    decoders: dict[str, DecoderSpec] = Field(default_factory=dict)
    epochs: int = Field(30, ge=1, le=10**9)
    lr: float = Field(3e-3, gt=0.0)
    batch_size: int = Field(128, ge=2, le=1 << 20)
    example_snr_db: tuple[float, ...] | None = None  # SNRs of the example picture (default: sweep's ends)


class ReceiverConfig(_Frozen):
    head: str = "logistic"  # classifier on the received payload, a name in receiver/heads.py's HEADS
    l2: float = Field(1e-3, ge=0.0)  # ridge penalty of the head (inverse of sklearn's C)
    reconstruction: ReconstructionConfig = Field(default_factory=ReconstructionConfig)
    # noise-aware receivers: heads and decoders fitted on training payloads that crossed a channel at
    # this SNR (in the sweep's snr_reference): one value, a list (each example draws one of them), or
    # {start, stop} (a uniform draw per example); None: on clean payloads
    train_snr_db: SnrSpec | None = None
    # the preset they cross; None: each tested preset gets its own receiver
    train_channel: str | None = None
    train_draws: int = Field(4, ge=1, le=10_000)  # noisy copies of each training instance

    _train_snr = field_validator("train_snr_db", mode="before")(classmethod(lambda cls, v: check_snr_spec(v)))


class LimitsConfig(_Frozen):
    """Budgets checked before any work (semcom_sim.limits has the formulas); raise one explicitly,
    e.g. ``--set limits.memory_gib=64``, for a run that really needs more."""

    memory_gib: float = Field(8.0, gt=0.0)  # estimated peak memory (host, or GPU on cuda)
    channel_symbols: float = Field(2e10, gt=0.0)  # complex symbols the sweep sends through channels
    ldpc_bit_iterations: float = Field(1e10, gt=0.0)  # coded bits x belief-propagation iterations decoded
    training_samples: float = Field(1e8, gt=0.0)  # epochs x training instances (encoders; decoders apart)
    snr_points: int = Field(1000, ge=1)  # SNR points of the sweep


class Scenario(_Frozen):
    # a folder name under runs/: no path separators, no leading dot
    name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.+=-]*$", max_length=128)
    seed: int = Field(0, ge=0, lt=2**63)  # numpy's SeedSequence takes non-negative seeds
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["float32", "float64"] = "float32"
    embedding_dim: int = Field(64, ge=2, le=1 << 20)  # D
    data: DataConfig = Field(default_factory=DataConfig)
    encoders: dict[str, EncoderSpec]  # one per modality; those not in data.modalities are unused
    training: TrainingConfig
    transmitter: TransmitterConfig = Field(default_factory=TransmitterConfig)
    channel: ChannelSweepConfig
    receiver: ReceiverConfig = Field(default_factory=ReceiverConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)


class ChannelPreset(_Frozen):
    """A channel preset file: a name, a model in the channel registry and that model's options,
    which go to its constructor as they are (``semcom-sim presets`` lists the shipped ones)."""

    name: str
    model: str  # key in the channel registry (semcom_sim/channel/)
    options: Options = Field(default_factory=dict)  # constructor keywords of that model


# --------------------------------------------------------------------------- loading

def _read_text(path: Path) -> str:
    """The file's text: a regular file of at most MAX_FILE_BYTES, UTF-8; anything else is a UserError."""
    src = str(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise UserError("file not found", source=src) from None
    except OSError as e:
        raise UserError(f"cannot read: {e.strerror or e}", source=src) from None
    if stat.S_ISDIR(st.st_mode):
        raise UserError("is a folder, not a YAML file", source=src)
    if not stat.S_ISREG(st.st_mode):
        raise UserError("is not a regular file", source=src)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)  # never more, whatever the file's size
    except OSError as e:
        raise UserError(f"cannot read: {e.strerror or e}", source=src) from None
    if len(data) > MAX_FILE_BYTES:
        raise UserError(f"file is larger than {MAX_FILE_BYTES >> 20} MiB; a scenario or experiment file is a few "
                        "kilobytes", source=src)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"not a UTF-8 text file (byte 0x{data[e.start]:02x} at offset {e.start})", source=src) from None


def _check_expansion(data: Any, source: str, field: str | None = None) -> None:
    """Refuse YAML whose aliases expand beyond MAX_YAML_VALUES nodes or MAX_YAML_TEXT characters, or
    nest deeper than MAX_YAML_DEPTH (a recursive alias). The walk visits every reference to a shared
    node again, as validation and copies would, and stops as soon as a bound is passed."""
    nodes, text = 1, 0
    stack = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (str, bytes)):
            text += len(node)
        elif isinstance(node, (dict, list)):
            if depth >= MAX_YAML_DEPTH:
                raise UserError(f"the YAML nests more than {MAX_YAML_DEPTH} levels deep (a recursive alias?)",
                                source=source, field=field)
            children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
            nodes += len(children)
            if nodes <= MAX_YAML_VALUES:
                stack += [(c, depth + 1) for c in children]
        if nodes > MAX_YAML_VALUES or text > MAX_YAML_TEXT:
            raise UserError(f"the YAML holds more than {MAX_YAML_VALUES:,} values or {MAX_YAML_TEXT >> 20} MiB of text "
                            "once its aliases are expanded (an alias bomb?)", source=source, field=field)


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader refusing a key given twice in one mapping, where PyYAML keeps the last value
    silently (a second ``epochs:`` further down would quietly replace the first)."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._checked: set[yaml.MappingNode] = set()

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        # flattening puts the merged (<<) keys before the node's own, which may override them: a
        # node's own keys are checked once, before its first flattening
        if node not in self._checked:
            self._checked.add(node)
            first: dict[Any, int] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag in (
                        "tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"):
                    continue
                key = self.construct_object(key_node)
                if key in first:  # the error's mark names the second one's line
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} is given twice in one mapping (first at line {first[key]})",
                        key_node.start_mark)
                first[key] = key_node.start_mark.line + 1
        super().flatten_mapping(node)


def _load_yaml(text: str, source: str, field: str | None = None) -> Any:
    """yaml.safe_load, refusing duplicate keys, with every failure as a one-line UserError, and the
    expansion bounds checked."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.reader.ReaderError as e:
        char = e.character if isinstance(e.character, int) else ord(e.character)
        raise UserError(f"invalid YAML: {e.reason} (character #x{char:04x} at offset {e.position})",
                        source=source, field=field) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else None
        problem = getattr(e, "problem", None) or "invalid YAML"
        raise UserError(f"invalid YAML: {problem}", source=source, field=field or where) from None
    except RecursionError:
        raise UserError("invalid YAML: nested too deeply", source=source, field=field) from None
    except ValueError as e:  # an integer of more than 4,300 digits (sys.get_int_max_str_digits)
        what = "a number has too many digits" if "digits" in str(e) else str(e).splitlines()[0]
        raise UserError(f"invalid YAML: {what}", source=source, field=field) from None
    _check_expansion(data, source, field)
    return data


def _read_yaml(path: Path) -> dict:
    text = _read_text(path)
    if not text.strip():
        raise UserError("the file is empty", source=str(path))
    raw = _load_yaml(text, str(path))
    if raw is None:
        raise UserError("holds no YAML document (only comments?)", source=str(path))
    if not isinstance(raw, dict):
        raise UserError("top level must be a mapping", source=str(path))
    return raw


_WRONG_CONTAINER = {"tuple_type", "list_type", "dict_type", "model_type", "model_attributes_type", "is_instance_of"}


def _model_names(cls: type = _Frozen) -> set[str]:
    names = {cls.__name__}
    for sub in cls.__subclasses__():
        names |= _model_names(sub)
    return names


def _validation_error(err: ValidationError, source: str) -> UserError:
    errors = err.errors()
    # a union (snr_db: list or range) reports each branch; the branch that matched the input's
    # shape is the one whose error is not "wrong container"
    first = next((e for e in errors if e["type"] not in _WRONG_CONTAINER), errors[0])
    tags = _model_names()
    loc = ".".join(str(p) for p in first["loc"]
                   if not str(p).startswith(("function-", "tuple[", "list[", "dict[")) and str(p) not in tags)
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif first["type"] == "missing":
        msg = "required field is missing"
    elif "input" in first and not isinstance(first["input"], (dict, list)):
        msg = f"{msg} (got {first['input']!r})"
    return UserError(msg, source=source, field=loc or None)


def parse_override(item: str) -> tuple[str, Any]:
    """``"training.temperature=0.01"`` -> ``("training.temperature", 0.01)`` (value parsed as YAML)."""
    if "=" not in item:
        raise UserError("expected dotted.key=value", source="--set", field=item)
    key, value = item.split("=", 1)
    key = key.strip()
    if not key:
        raise UserError(f"{item!r}: the key before '=' is empty (expected dotted.key=value)", source="--set")
    if any(not p.strip() for p in key.split(".")):
        raise UserError(f"{item!r}: the dotted key {key!r} has an empty part (expected e.g. training.epochs=5)",
                        source="--set")
    return key, _load_yaml(value, "--set", key)


def apply_overrides(raw: dict, overrides: list[tuple[str, Any]]) -> dict:
    import copy

    out = copy.deepcopy(raw)
    for key, value in overrides:
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            nxt = node.get(p)
            if nxt is None:
                nxt = node[p] = {}
            if not isinstance(nxt, dict):
                raise UserError("cannot set a field inside a non-mapping", source="--set", field=key)
            node = nxt
        node[parts[-1]] = value
    return out


def _absolute_dirs(raw: dict, base: Path) -> dict:
    """Data-source options named ``*_dir`` or ``*_path`` given as relative paths are relative to
    ``base`` (the scenario file's folder, or the working directory for --set), so a scenario runs
    from anywhere."""
    options = (raw.get("data") or {}).get("options")
    if isinstance(options, dict):
        for key, value in options.items():
            if key.endswith(("_dir", "_path")) and isinstance(value, str) and not Path(value).expanduser().is_absolute():
                options[key] = str((base / value).resolve())
    return raw


def load_scenario(path: str | Path, overrides: list[str] | None = None) -> Scenario:
    """Parse a scenario file and validate it against the schema; ``overrides`` are
    ``dotted.key=value`` strings. Names and budgets are not checked here: use
    :func:`semcom_sim.checks.load_checked_scenario` for a scenario about to run."""
    path = Path(path)
    raw = _absolute_dirs(_read_yaml(path), path.parent)
    raw = _absolute_dirs(apply_overrides(raw, [parse_override(o) for o in overrides or []]), Path.cwd())
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as e:
        raise _validation_error(e, str(path)) from None
    return scenario


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
    return package.parent / "channels"  # from the package root, not this file: config.py may move


def channel_search_path(scenario_path: Path | None) -> list[Path]:
    """Where a preset name is looked up, first match wins: ``channels/`` beside the scenario file or
    one folder up (a project's own presets), then the packaged ones."""
    dirs = []
    if scenario_path is not None:
        dirs += [scenario_path.parent.parent / "channels", scenario_path.parent / "channels"]
    dirs.append(packaged_presets_dir())
    return dirs


def list_presets(scenario_path: Path | None = None) -> dict[str, Path]:
    """Every preset name a scenario at ``scenario_path`` can use, with the file it resolves to."""
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
    """Parse one preset file (its model and options are checked in :mod:`semcom_sim.checks`)."""
    raw = _read_yaml(path)
    stray = sorted(set(raw) - set(ChannelPreset.model_fields)) if isinstance(raw, dict) else []
    if stray:  # most likely a model option at the top level, as preset files had it before
        raise UserError(f"unknown key; a model's options go under 'options:' (e.g. options: {{{stray[0]}: ...}})",
                        source=str(path), field=stray[0])
    try:
        return ChannelPreset.model_validate(raw)
    except ValidationError as e:
        raise _validation_error(e, str(path)) from None


def load_channel_preset(ref: str, scenario_path: Path | None = None) -> ChannelPreset:
    """A preset by name (``awgn``, see :func:`channel_search_path`) or by path to a YAML file."""
    return read_channel_preset(channel_preset_path(ref, scenario_path))
