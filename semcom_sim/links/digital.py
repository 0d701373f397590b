"""The digital link: uniform quantiser -> 5G LDPC code -> QAM (Sionna), one codeword per vector;
Sionna's APP demapper and LDPC belief propagation at the receiver.

Each transmitted vector of T payload values becomes one codeword: the T values are quantised to
b bits each (natural binary, most significant bit first), the k = T*b bits are encoded by Sionna's
5G NR LDPC encoder into n coded bits, and these are mapped onto n / bits_per_symbol QAM symbols.
The receiver demaps the channel's equalised symbols with their error variance, decodes, and
de-quantises whatever bits come out, right or wrong.
"""
from __future__ import annotations

from functools import lru_cache

import torch
from pydantic import Field, field_validator

from ..runtime import SIONNA_PRECISION
from . import LINKS
from .base import Link, LinkCost, LinkOptions

# Sionna's 5G encoder (38.212 without repetition): 12 <= k <= 8448 and 1/5 <= k/n <= 0.95.
K_MIN, K_MAX = 12, 8448
RATE_MIN, RATE_MAX = 1 / 5, 0.95
# the demapper holds one distance per symbol and constellation point: bounds memory per chunk of draws
DEMAPPER_ENTRIES_PER_CHUNK = 1 << 24
# the BP decoder holds one message per edge and codeword: bounds memory per decoder call
DECODER_MESSAGES_PER_CHUNK = 1 << 24
# real values alive per demapper entry (about 24 bytes measured in float32) and per decoder message
DEMAPPER_VALUES_PER_ENTRY = 16
DECODER_VALUES_PER_MESSAGE = 6


class DigitalOptions(LinkOptions):
    """The digital link's options (``{name: digital, options: {...}}`` in ``transmitter.links``).

    >>> from semcom_sim.blocks import DigitalOptions
    >>> DigitalOptions(bits=6, bits_per_symbol=2).code_rate
    0.5
    """

    bits: int = Field(4, ge=1, le=16, description="uniform quantiser bits per payload value")
    code_rate: float = Field(0.5, gt=0.0, lt=1.0, description="target 5G LDPC code rate k/n")
    bits_per_symbol: int = Field(4, ge=2, le=12, description="QAM order 2**bits_per_symbol (2: QPSK, 4: 16-QAM); even")
    ldpc_iterations: int = Field(20, ge=1, le=10_000, description="belief-propagation iterations of the decoder")

    @field_validator("bits_per_symbol")
    @classmethod
    def _square_qam(cls, v: int) -> int:
        if v % 2:
            raise ValueError("must be even for square QAM")
        return v


def coded_bits(info_bits: int, code_rate: float, bits_per_symbol: int) -> int:
    """n per codeword: the multiple of bits_per_symbol nearest to k / code_rate (5G rate matching
    takes any n)."""
    return bits_per_symbol * max(1, round(info_bits / (code_rate * bits_per_symbol)))


class Quantiser:
    """Uniform quantiser of payload values over [lo, hi] with ``bits`` per value, its levels labelled
    in natural binary, MSB first (the digital link's, reused by the nr link)."""

    def __init__(self, payload_len: int, lo: float, hi: float, bits: int):
        if not hi > lo:
            raise ValueError(f"quantiser range is empty: lo={lo}, hi={hi}")
        self.payload_len, self.lo, self.hi, self.bits = payload_len, lo, hi, bits

    @property
    def step(self) -> float:
        return (self.hi - self.lo) / 2 ** self.bits

    def quantize(self, payload: torch.Tensor) -> torch.Tensor:
        """Real [...] -> int64 cell indices [...] in [0, 2^b): uniform cells of width ``step`` over [lo, hi]."""
        codes = torch.floor((payload - self.lo) / self.step).long()
        return codes.clamp_(0, 2 ** self.bits - 1)

    def dequantize(self, codes: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        """int [...] -> cell centres [...] in ``dtype`` (default: torch's default float dtype)."""
        return self.lo + (codes.to(dtype or torch.get_default_dtype()) + 0.5) * self.step

    def to_bits(self, codes: torch.Tensor) -> torch.Tensor:
        """int [..., T] -> {0, 1} int64 [..., T*b], each value's bits MSB first."""
        shifts = torch.arange(self.bits - 1, -1, -1, device=codes.device)
        return ((codes.unsqueeze(-1) >> shifts) & 1).flatten(-2)

    def from_bits(self, bits: torch.Tensor) -> torch.Tensor:
        """{0, 1} [..., T*b] (any dtype) -> int64 codes [..., T]."""
        shifts = torch.arange(self.bits - 1, -1, -1, device=bits.device)
        return (bits.reshape(*bits.shape[:-1], self.payload_len, self.bits).long() << shifts).sum(-1)

    def clean(self, payload: torch.Tensor) -> torch.Tensor:
        return self.dequantize(self.quantize(payload), payload.dtype)  # exactly the quantised payload


@LINKS.register("digital")
class Digital(Quantiser, Link):
    """Quantiser, code and modulation for payloads [..., V, T]; one codeword per vector.

    ``lo``/``hi`` are fixed on the training payloads; values outside are clipped to the edge cells.
    The quantiser levels are labelled in natural binary, not Gray: a bit error then moves a value by
    a fixed amount set by its position (2^(b-1) steps for the MSB, one step for the LSB), and after a
    failed LDPC decoding many bits of a value are wrong at once, where Gray labels bring nothing.
    Quantiser-level labels are unrelated to the QAM's Gray labelling of the coded bits (Sionna's).

    >>> import torch
    >>> from semcom_sim.blocks import Digital, DigitalOptions, channel_from_preset
    >>> payload = torch.rand(4, 1, 8)                    # [N, V, T]
    >>> link = Digital.fit(payload, DigitalOptions(bits=4, code_rate=0.5, bits_per_symbol=2))
    >>> link.info_bits, link.coded_bits, link.channel_uses   # k = T * bits, n, n / bits_per_symbol
    (32, 64, 32)
    >>> no = torch.tensor([0.01])                        # 20 dB: every codeword decodes
    >>> payload_hat, counts = link.receive(channel_from_preset("awgn"), link.send(payload), no, draws=2)
    >>> payload_hat.shape, bool((payload_hat == link.clean(payload)).all())
    (torch.Size([1, 2, 4, 1, 8]), True)
    """

    Options = DigitalOptions
    line_style = "--"

    def __init__(self, payload_len: int, lo: float, hi: float, options: DigitalOptions | None = None):
        self.options = options = options or DigitalOptions()
        self.check(options, payload_len)
        Quantiser.__init__(self, payload_len, lo, hi, options.bits)
        self.code_rate = options.code_rate  # the rate is a target: k / n is the actual one
        self.bits_per_symbol, self.ldpc_iterations = options.bits_per_symbol, options.ldpc_iterations

    # ----------------------------------------------------------------- before anything is built

    @classmethod
    def cost(cls, options: DigitalOptions, payload_len: int) -> LinkCost:
        n = coded_bits(payload_len * options.bits, options.code_rate, options.bits_per_symbol)
        return LinkCost(n // options.bits_per_symbol, n, options.ldpc_iterations)

    @classmethod
    def chunk_bytes(cls, options, symbols_per_draw: int, draws: int, decoded_values: int, value_bytes: int) -> int:
        entries = symbols_per_draw * 2 ** options.bits_per_symbol
        chunk = max(1, min(draws, DEMAPPER_ENTRIES_PER_CHUNK // max(1, entries))) * entries
        return ((chunk * DEMAPPER_VALUES_PER_ENTRY + DECODER_MESSAGES_PER_CHUNK * DECODER_VALUES_PER_MESSAGE)
                * value_bytes + decoded_values * value_bytes * 2)

    @classmethod
    def check(cls, options: DigitalOptions, payload_len: int) -> None:
        """A code that 5G LDPC cannot build (k, n, rate limits) is refused before anything runs."""
        if payload_len < 1:
            raise ValueError(f"payload_len must be positive, got {payload_len}")
        k = payload_len * options.bits
        n = coded_bits(k, options.code_rate, options.bits_per_symbol)
        if not K_MIN <= k <= K_MAX:
            raise ValueError(
                f"k = payload_len * bits = {payload_len} * {options.bits} = {k} information bits per codeword; "
                f"Sionna's 5G LDPC encoder takes {K_MIN} <= k <= {K_MAX}: change the payload length or bits")
        if not RATE_MIN <= k / n <= RATE_MAX:
            raise ValueError(
                f"code rate {options.code_rate} gives k/n = {k}/{n} = {k / n:.3f}; 5G LDPC supports rates in "
                f"[{RATE_MIN}, {RATE_MAX}] (n a multiple of bits_per_symbol={options.bits_per_symbol})")
        from sionna.phy.fec.ldpc import LDPC5GEncoder

        try:  # the base-graph rules (e.g. k > 3840 needs rate >= 1/3) are Sionna's own
            LDPC5GEncoder(k, n, num_bits_per_symbol=options.bits_per_symbol, device="cpu")
        except ValueError as err:
            raise ValueError(f"no 5G LDPC code with k={k}, n={n} (rate {k / n:.3f}): {err}") from err

    @classmethod
    def spend(cls, options: DigitalOptions, mode: str, factor: int) -> DigitalOptions | None:
        if mode == "bits":
            return options.model_copy(update={"bits": factor * options.bits})
        if mode == "code_rate":
            return options.model_copy(update={"code_rate": options.code_rate / factor})
        return None

    @classmethod
    def fit(cls, train_payload: torch.Tensor, options: DigitalOptions | None = None) -> "Digital":
        """Quantiser range = [min, max] of the training payload [N, V, T]."""
        return cls(train_payload.shape[-1], float(train_payload.min()), float(train_payload.max()), options)

    # ----------------------------------------------------------------- sizes

    @property
    def info_bits(self) -> int:  # k, per transmitted vector
        return self.payload_len * self.bits

    @property
    def coded_bits(self) -> int:  # n, per transmitted vector
        return coded_bits(self.info_bits, self.code_rate, self.bits_per_symbol)

    @property
    def channel_uses(self) -> int:  # per transmitted vector
        return self.coded_bits // self.bits_per_symbol

    @property
    def receiver_key(self) -> tuple:
        # the decoder's iterations change the errors too; the options hold everything that does
        return (type(self).__name__, self.options)

    def capacity_bits(self) -> int:
        return self.info_bits  # the same bits as the practical code, in the same channel uses

    # ----------------------------------------------------------------- transmitter half

    def encode(self, payload: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """payload [N, V, T] -> (information bits u [N, V, k] in payload's dtype, QAM symbols x [N, V, L])."""
        t = payload.shape[-1]
        if t != self.payload_len:
            raise ValueError(f"payload has {t} values per vector, the link was fitted for {self.payload_len}")
        opts = {"precision": SIONNA_PRECISION[payload.dtype], "device": str(payload.device)}
        u = self.to_bits(self.quantize(payload)).to(payload.dtype)
        encoder = ldpc_encoder(self.info_bits, self.coded_bits, self.bits_per_symbol, **opts)
        return u, mapper(self.bits_per_symbol, **opts)(encoder(u))

    def send(self, payload: torch.Tensor):
        return self.encode(payload)  # (u bits [N, V, k], x symbols [N, V, L])

    # ----------------------------------------------------------------- receiver half

    def detect(self, x_u: torch.Tensor, no_eff: torch.Tensor) -> torch.Tensor:
        """Equalised symbols x_u [..., L] and error variances -> hard information bits [..., k]."""
        demapper, decoder = detector_blocks(self.info_bits, self.coded_bits, self.bits_per_symbol,
                                            self.ldpc_iterations, SIONNA_PRECISION[x_u.real.dtype], str(x_u.device))
        llr = demapper(x_u, no_eff)  # [..., n]
        flat = llr.flatten(0, -2)
        per_decode = max(1, DECODER_MESSAGES_PER_CHUNK // decoder.num_edges)
        return torch.cat([decoder(c) for c in flat.split(per_decode)]).reshape(*llr.shape[:-1], -1)

    def draws_per_chunk(self, sent, snr_points: int, draws: int) -> int:
        per_draw = snr_points * sent[1].numel() * 2 ** self.bits_per_symbol
        return max(1, min(draws, DEMAPPER_ENTRIES_PER_CHUNK // per_draw))

    def receive(self, channel, sent, no: torch.Tensor, draws: int):
        u, x = sent
        x_u, no_eff = channel(x.expand(no.shape[0], draws, *x.shape), no)
        u_hat = self.detect(x_u, no_eff)  # [S, r, N, V, k]
        wrong = u_hat != u
        # per SNR point, which Sionna's count_errors / count_block_errors (whole-tensor sums) do not give
        counts = {"bit_errors": wrong.sum((1, 2, 3, 4)), "block_errors": wrong.any(-1).sum((1, 2, 3))}
        return self.dequantize(self.from_bits(u_hat), u.dtype), counts

    def receive_each(self, channel, sent, no: torch.Tensor) -> torch.Tensor:
        u, x = sent
        x_u, no_eff = channel(x[:, None, None], no)  # each instance as its own SNR point of one draw
        return self.dequantize(self.from_bits(self.detect(x_u, no_eff)[:, 0, 0]), u.dtype)

    def error_rates(self, counts, draws: int, payload_shape) -> dict[str, torch.Tensor]:
        blocks = draws * payload_shape[0] * payload_shape[1]
        return {"ber": counts["bit_errors"] / (blocks * self.info_bits),
                "bler": counts["block_errors"] / blocks}


@lru_cache(maxsize=16)
def ldpc_encoder(k: int, n: int, bits_per_symbol: int, *, precision: str, device: str):
    """Sionna's 5G LDPC encoder, built once per code: its set-up inverts sub-matrices. The receiver's
    decoder is built from it: both ends know the code."""
    from sionna.phy.fec.ldpc import LDPC5GEncoder

    # inputs are the quantiser's own bits: the per-call binary check would only cost time
    return LDPC5GEncoder(k, n, num_bits_per_symbol=bits_per_symbol, check_input=False, precision=precision,
                         device=device)


@lru_cache(maxsize=16)
def mapper(bits_per_symbol: int, *, precision: str, device: str):
    from sionna.phy.mapping import Mapper

    return Mapper("qam", bits_per_symbol, precision=precision, device=device)


@lru_cache(maxsize=16)
def detector_blocks(k: int, n: int, bits_per_symbol: int, iterations: int, precision: str, device: str):
    """The APP demapper and the BP decoder of one code, built once."""
    from sionna.phy.fec.ldpc import LDPC5GDecoder
    from sionna.phy.mapping import Demapper

    encoder = ldpc_encoder(k, n, bits_per_symbol, precision=precision, device=device)
    return (Demapper("app", "qam", bits_per_symbol, precision=precision, device=device),
            LDPC5GDecoder(encoder, num_iter=iterations, hard_out=True, precision=precision, device=device))
