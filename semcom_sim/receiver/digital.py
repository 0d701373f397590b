"""Digital link, receiver half: Sionna's APP demapper on the channel's equalised symbols and error
variance, then 5G LDPC belief propagation; the bits that come out, right or wrong, go back to the
quantiser cells (``transmitter/digital.py`` defines the quantiser and the code)."""
from __future__ import annotations

from functools import lru_cache

import torch

from ..runtime import SIONNA_PRECISION
from ..transmitter.digital import DigitalLink, ldpc_encoder

# the BP decoder holds one message per edge and codeword: bounds memory per decoder call
DECODER_MESSAGES_PER_CHUNK = 1 << 24


class DigitalDetector:
    """Equalised symbols x_u [..., L] and error variances -> hard information bits [..., k]."""

    def __init__(self, link: DigitalLink):
        self.link = link

    def __call__(self, x_u: torch.Tensor, no_eff: torch.Tensor) -> torch.Tensor:
        link = self.link
        precision = SIONNA_PRECISION[x_u.real.dtype]
        demapper, decoder = _blocks(link.info_bits, link.coded_bits, link.bits_per_symbol, link.ldpc_iterations,
                                    precision, str(x_u.device))
        llr = demapper(x_u, no_eff)  # [..., n]
        flat = llr.flatten(0, -2)
        per_decode = max(1, DECODER_MESSAGES_PER_CHUNK // decoder.num_edges)
        return torch.cat([decoder(c) for c in flat.split(per_decode)]).reshape(*llr.shape[:-1], -1)


@lru_cache(maxsize=16)
def _blocks(k: int, n: int, bits_per_symbol: int, iterations: int, precision: str, device: str):
    from sionna.phy.fec.ldpc import LDPC5GDecoder
    from sionna.phy.mapping import Demapper

    encoder = ldpc_encoder(k, n, bits_per_symbol, precision=precision, device=device)
    return (Demapper("app", "qam", bits_per_symbol, precision=precision, device=device),
            LDPC5GDecoder(encoder, num_iter=iterations, hard_out=True, precision=precision, device=device))
