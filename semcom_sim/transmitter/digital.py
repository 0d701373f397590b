"""Digital link, transmitter half: uniform quantiser -> 5G LDPC code -> QAM (Sionna).

Each transmitted vector of T payload values becomes one codeword: the T values are quantised to
b bits each (natural binary, most significant bit first), the k = T*b bits are encoded by Sionna's
5G NR LDPC encoder into n coded bits, and these are mapped onto n / bits_per_symbol QAM symbols.
The receiver half (``receiver/digital.py``) demaps, decodes and de-quantises whatever bits come
out, right or wrong; ``links/digital.py`` pairs the two.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

from ..runtime import SIONNA_PRECISION

# Sionna's 5G encoder (38.212 without repetition): 12 <= k <= 8448 and 1/5 <= k/n <= 0.95.
K_MIN, K_MAX = 12, 8448
RATE_MIN, RATE_MAX = 1 / 5, 0.95


def coded_bits(info_bits: int, code_rate: float, bits_per_symbol: int) -> int:
    """n per codeword: the multiple of bits_per_symbol nearest to k / code_rate (5G rate matching
    takes any n); a function so that the budgets count it without building the code."""
    return bits_per_symbol * max(1, round(info_bits / (code_rate * bits_per_symbol)))


@dataclass(frozen=True)
class DigitalLink:
    """Quantiser, code and modulation for payloads [..., V, T]; one codeword per vector.

    ``lo``/``hi`` are fixed on the training payloads; values outside are clipped to the edge cells.
    The quantiser levels are labelled in natural binary, not Gray: a bit error then moves a value by
    a fixed amount set by its position (2^(b-1) steps for the MSB, one step for the LSB), and after a
    failed LDPC decoding many bits of a value are wrong at once, where Gray labels bring nothing.
    Quantiser-level labels are unrelated to the QAM's Gray labelling of the coded bits (Sionna's).
    """

    payload_len: int  # T
    bits: int  # b bits per value
    lo: float
    hi: float
    code_rate: float  # target; the actual rate is info_bits / coded_bits
    bits_per_symbol: int  # QAM order 2**bits_per_symbol
    ldpc_iterations: int = 20

    def __post_init__(self) -> None:
        if self.payload_len < 1 or self.bits < 1:
            raise ValueError(f"payload_len and bits must be positive, got {self.payload_len} and {self.bits}")
        if not self.hi > self.lo:
            raise ValueError(f"quantiser range is empty: lo={self.lo}, hi={self.hi}")
        if self.bits_per_symbol < 2 or self.bits_per_symbol % 2:
            raise ValueError(f"bits_per_symbol must be even and >= 2 for square QAM, got {self.bits_per_symbol}")
        if not 0 < self.code_rate < 1:
            raise ValueError(f"code_rate must be in (0, 1), got {self.code_rate}")
        if self.ldpc_iterations < 0:
            raise ValueError(f"ldpc_iterations must be >= 0, got {self.ldpc_iterations}")
        k, n = self.info_bits, self.coded_bits
        if not K_MIN <= k <= K_MAX:
            raise ValueError(
                f"k = payload_len * bits = {self.payload_len} * {self.bits} = {k} information bits per codeword; "
                f"Sionna's 5G LDPC encoder takes {K_MIN} <= k <= {K_MAX}: change the payload length or bits")
        if not RATE_MIN <= k / n <= RATE_MAX:
            raise ValueError(
                f"code rate {self.code_rate} gives k/n = {k}/{n} = {k / n:.3f}; 5G LDPC supports rates in "
                f"[{RATE_MIN}, {RATE_MAX}] (n a multiple of bits_per_symbol={self.bits_per_symbol})")
        from sionna.phy.fec.ldpc import LDPC5GEncoder

        try:  # the base-graph rules (e.g. k > 3840 needs rate >= 1/3) are Sionna's own
            LDPC5GEncoder(k, n, num_bits_per_symbol=self.bits_per_symbol, device="cpu")
        except ValueError as err:
            raise ValueError(f"no 5G LDPC code with k={k}, n={n} (rate {k / n:.3f}): {err}") from err

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
    def step(self) -> float:
        return (self.hi - self.lo) / 2 ** self.bits

    @classmethod
    def fit(cls, train_payload: torch.Tensor, *, bits: int, code_rate: float, bits_per_symbol: int,
            ldpc_iterations: int = 20) -> "DigitalLink":
        """Quantiser range = [min, max] of the training payload [N, V, T]."""
        return cls(train_payload.shape[-1], bits, float(train_payload.min()), float(train_payload.max()),
                   code_rate, bits_per_symbol, ldpc_iterations)

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

    def encode(self, payload: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """payload [N, V, T] -> (information bits u [N, V, k] in payload's dtype, QAM symbols x [N, V, L])."""
        t = payload.shape[-1]
        if t != self.payload_len:
            raise ValueError(f"payload has {t} values per vector, the link was fitted for {self.payload_len}")
        opts = {"precision": SIONNA_PRECISION[payload.dtype], "device": str(payload.device)}
        u = self.to_bits(self.quantize(payload)).to(payload.dtype)
        encoder = ldpc_encoder(self.info_bits, self.coded_bits, self.bits_per_symbol, **opts)
        return u, _mapper(self.bits_per_symbol, **opts)(encoder(u))


@lru_cache(maxsize=16)
def ldpc_encoder(k: int, n: int, bits_per_symbol: int, *, precision: str, device: str):
    """Sionna's 5G LDPC encoder, built once per code: its set-up inverts sub-matrices. The receiver's
    decoder is built from it (``receiver/digital.py``): both ends know the code."""
    from sionna.phy.fec.ldpc import LDPC5GEncoder

    # inputs are the quantiser's own bits: the per-call binary check would only cost time
    return LDPC5GEncoder(k, n, num_bits_per_symbol=bits_per_symbol, check_input=False, precision=precision,
                         device=device)


@lru_cache(maxsize=16)
def _mapper(bits_per_symbol: int, *, precision: str, device: str):
    from sionna.phy.mapping import Mapper

    return Mapper("qam", bits_per_symbol, precision=precision, device=device)
