"""Digital link: uniform quantiser -> 5G LDPC code -> QAM (Sionna), beside the analog link.

Each transmitted vector of T payload values becomes one codeword: the T values are quantised to
b bits each (natural binary, most significant bit first), the k = T*b bits are encoded by Sionna's
5G NR LDPC encoder into n coded bits, and these are mapped onto n / bits_per_symbol QAM symbols.
The receiver runs Sionna's APP demapper on the channel's equalised symbols and error variance,
then belief propagation, and de-quantises whatever bits come out, right or wrong.

Also here: what a capacity-achieving code would deliver with the same number of channel uses,
the reference that any practical link is measured against.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
from sionna.phy.mapping import Demapper, Mapper

from ..runtime import SIONNA_PRECISION

# Sionna's 5G encoder (38.212 without repetition): 12 <= k <= 8448 and 1/5 <= k/n <= 0.95.
K_MIN, K_MAX = 12, 8448
RATE_MIN, RATE_MAX = 1 / 5, 0.95
# bounds memory per step whatever the batch: the demapper holds one distance per symbol and
# constellation point, the BP decoder one message per edge and codeword
_DEMAPPER_ENTRIES_PER_CHUNK = 1 << 24
_DECODER_MESSAGES_PER_CHUNK = 1 << 24


@dataclass(frozen=True)
class DigitalResult:
    """Outcome of ``DigitalLink.transmit`` over S SNR points and R draws.

    payload_hat: [S, R, N, V, T] de-quantised decoded values (decoding failures included).
    bit_errors, block_errors: int64 [S], information bits / codewords in error, summed over draws.
    num_bits, num_blocks: information bits / codewords sent per SNR point (R * N * V * k, R * N * V).
    """

    payload_hat: torch.Tensor
    bit_errors: torch.Tensor
    block_errors: torch.Tensor
    num_bits: int
    num_blocks: int

    @property
    def ber(self) -> torch.Tensor:
        return self.bit_errors / self.num_bits

    @property
    def bler(self) -> torch.Tensor:
        return self.block_errors / self.num_blocks


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
        try:  # the base-graph rules (e.g. k > 3840 needs rate >= 1/3) are Sionna's own
            LDPC5GEncoder(k, n, num_bits_per_symbol=self.bits_per_symbol, device="cpu")
        except ValueError as err:
            raise ValueError(f"no 5G LDPC code with k={k}, n={n} (rate {k / n:.3f}): {err}") from err

    @property
    def info_bits(self) -> int:  # k, per transmitted vector
        return self.payload_len * self.bits

    @property
    def coded_bits(self) -> int:  # n, per transmitted vector
        """The multiple of bits_per_symbol nearest to k / code_rate (5G rate matching takes any n)."""
        m = self.bits_per_symbol
        return m * max(1, round(self.info_bits / (self.code_rate * m)))

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

    def transmit(self, payload: torch.Tensor, channel, no: torch.Tensor, draws: int) -> DigitalResult:
        """payload [N, V, T] through ``channel`` at noise variances no [S], ``draws`` realisations each.

        Encoding and mapping happen once; the symbols are expanded (not copied) over SNR points and
        draws, and every codeword of a chunk of draws is demapped and decoded in one batched call.
        """
        n_inst, v, t = payload.shape
        if t != self.payload_len:
            raise ValueError(f"payload has {t} values per vector, the link was fitted for {self.payload_len}")
        encoder, mapper, demapper, decoder = _codec(self.info_bits, self.coded_bits, self.bits_per_symbol,
                                                    self.ldpc_iterations, SIONNA_PRECISION[payload.dtype],
                                                    str(payload.device))
        u = self.to_bits(self.quantize(payload)).to(payload.dtype)  # [N, V, k]
        x = mapper(encoder(u))  # [N, V, L]
        s = no.shape[0]
        per_draw = s * x.numel() * 2 ** self.bits_per_symbol
        chunk = max(1, min(draws, _DEMAPPER_ENTRIES_PER_CHUNK // per_draw))
        per_decode = max(1, _DECODER_MESSAGES_PER_CHUNK // decoder.num_edges)
        bit_errors = block_errors = 0
        hats = []
        for start in range(0, draws, chunk):
            r = min(chunk, draws - start)
            x_u, no_eff = channel(x.expand(s, r, *x.shape), no)
            llr = demapper(x_u, no_eff).flatten(0, -2)  # [S*r*N*V, n]
            u_hat = torch.cat([decoder(c) for c in llr.split(per_decode)]).reshape(s, r, n_inst, v, -1)
            # per SNR point, which Sionna's count_errors / count_block_errors (whole-tensor sums) do not give
            wrong = u_hat != u
            bit_errors = bit_errors + wrong.sum((1, 2, 3, 4))
            block_errors = block_errors + wrong.any(-1).sum((1, 2, 3))
            hats.append(self.dequantize(self.from_bits(u_hat), payload.dtype))
        blocks = draws * n_inst * v
        return DigitalResult(torch.cat(hats, 1), bit_errors, block_errors, blocks * self.info_bits, blocks)


@lru_cache(maxsize=16)
def _codec(k: int, n: int, bits_per_symbol: int, iterations: int, precision: str, device: str):
    """Sionna blocks for one configuration, built once: the encoder's set-up inverts sub-matrices."""
    opts = {"precision": precision, "device": device}
    # inputs are the quantiser's own bits: the per-call binary check would only cost time
    encoder = LDPC5GEncoder(k, n, num_bits_per_symbol=bits_per_symbol, check_input=False, **opts)
    return (encoder, Mapper("qam", bits_per_symbol, **opts), Demapper("app", "qam", bits_per_symbol, **opts),
            LDPC5GDecoder(encoder, num_iter=iterations, hard_out=True, **opts))


def capacity_delivery_probability(info_bits: int, channel_uses: int, snr_db: torch.Tensor,
                                  fading: str | None = None) -> torch.Tensor:
    """Probability [S] that a capacity-achieving code delivers ``info_bits`` in ``channel_uses`` uses.

    With R = info_bits / channel_uses bits per channel use and SNR = 10^(snr_db/10):
    - fading None (AWGN): 1 if info_bits <= channel_uses * log2(1 + SNR), else 0.
    - "block" (one h ~ CN(0, 1) per vector, outage): P(log2(1 + |h|^2 SNR) >= R) with |h|^2 ~ Exp(1),
      i.e. exp(-(2^R - 1) / SNR).
    - "fast" (one h per symbol, a long codeword averages the fades): 1 if R <= E[log2(1 + |h|^2 SNR)]
      = exp(1/SNR) E1(1/SNR) / ln 2, else 0.
    Computed in float64, returned in snr_db's floating dtype (float64 otherwise) on its device.
    """
    snr = 10.0 ** (snr_db.double() / 10.0)
    if fading is None:
        delivered = info_bits <= channel_uses * torch.log2(1.0 + snr)
        p = delivered.double()
    elif fading == "block":
        p = torch.exp(-(2.0 ** (info_bits / channel_uses) - 1.0) / snr)
    elif fading == "fast":
        from scipy.special import hyperu

        # U(1, 1, x) = e^x E1(x) (DLMF 6.11.2): exp(1/SNR) * exp1(1/SNR) overflows below -28.5 dB
        scaled_e1 = torch.from_numpy(hyperu(1.0, 1.0, (1.0 / snr).cpu().numpy())).to(snr.device)
        p = (info_bits <= channel_uses * scaled_e1 / math.log(2.0)).double()
    else:
        raise ValueError(f"fading must be None, 'block' or 'fast', got {fading!r}")
    return p.to(snr_db.dtype if snr_db.is_floating_point() else torch.float64)
