"""The 5G NR link: each transmitted vector is one transport block (TS 38.212/38.214, Sionna's
``TBEncoder``/``TBDecoder``), with a CRC the receiver checks; what a failed block delivers is the
option ``on_crc_failure``.

Transmitter. The T payload values of a vector are quantised as by the ``digital`` link (``bits``
per value, natural binary, MSB first: its quantiser is reused), giving k = T * bits payload bits.
The MCS (``mcs_index`` of TS 38.214 table ``mcs_table``, read by Sionna's ``decode_mcs_index``,
PDSCH) fixes the QAM order Qm and the target code rate R. The resource allocation is the smallest
number of resource elements (channel uses) whose TS 38.214 transport-block size (Sionna's
``calculate_tb_size`` for Qm * N_RE coded bits at rate R) holds the k bits: the scheduler gives
a vector just what it needs, and the standard's size comes out of that allocation, not the reverse.
The TB is the k payload bits padded with zeros to that size; ``TBEncoder`` adds the TB CRC (CRC16
up to 3824 bits, else CRC24A), segments into code blocks with a CRC24B each when there are several,
LDPC-encodes, rate-matches, interleaves and scrambles; Sionna's ``Mapper`` maps onto QAM.

Receiver, ``mode: monte_carlo``. The channel's equalised symbols go through Sionna's APP demapper
and ``TBDecoder`` (belief propagation, ``ldpc_iterations``); its TB CRC says whether the block
passed. ``ber`` counts the decoded payload bits that are wrong (before any erasure), ``bler`` the
blocks whose CRC failed.

Receiver, ``mode: abstraction``. No block is decoded: the channel is run to get each block's
post-equaliser SINR, 1 / no_eff (unit-energy symbols; ``Channel.sinr``), on one symbol per block
where it is the same over the block (AWGN, block fading), else on every symbol, a slice of the
instances at a time; where it varies within the block (fast fading, OFDM) Sionna's ``EESM`` maps it
to one effective SINR for the MCS (over fast fading's i.i.d. SINRs and blocks of 4096 symbols or
more, with ``eesm: law``, drawn from the SINRs' law: ``nr_abstraction.eesm_by_law``); the code-block
BLER at that SINR is read off an AWGN BLER table of the block's own code (Qm, code-block size with
its CRC, coded bits per code block, decoder iterations), the TB's error probability is 1 - (1 - BLER)^C for C code blocks (as Sionna's
``PHYAbstraction`` computes it), and a Bernoulli draw from Sionna's seeded generator says whether
the block failed. Blocks that pass deliver the quantised payload. The tables are this package's
own, per code block (``nr_abstraction``, whose docstring says why not Sionna's).

Link adaptation, ``bler_target``: at each SNR point the highest candidate MCS (:func:`.nr_sizes.candidates`)
whose TB BLER on the AWGN tables at the point's nominal per-symbol SNR meets the target (see
:meth:`NR.at_snr`; the mean SNR, not the fading realisation: slow adaptation, no outer loop, the draws
being independent); each MCS is its own fitted link object with its own channel uses.

A block whose CRC failed delivers, with ``on_crc_failure: erase``, the training mean of that
vector's payload (what the receiver knows without it), for classification and reconstruction
alike; with ``use_decoded`` (monte_carlo only) the decoder's bits as they are, as the digital link.
"""
from __future__ import annotations

import copy
import math
from functools import lru_cache
from typing import Literal

import torch
from pydantic import Field, model_validator

from ..runtime import SIONNA_PRECISION
from . import LINKS
from .base import Link, LinkCost, LinkOptions
from .digital import (DECODER_MESSAGES_PER_CHUNK, DECODER_VALUES_PER_MESSAGE, DEMAPPER_ENTRIES_PER_CHUNK,
                      DEMAPPER_VALUES_PER_ENTRY, Quantiser)
from .nr_abstraction import (ABSTRACTION_SYMBOLS_PER_CALL, BlerTable, bler_table, effective_sinr, highest_meeting,
                             law_symbols)
from .nr_sizes import MAX_MCS, MIN_CB_RATE, candidates, file_segments, mcs, tb_layout


class NROptions(LinkOptions):
    mcs_index: int = Field(13, ge=0, description=(
        "MCS index I_MCS of the TS 38.214 table mcs_table; the default, 16-QAM at rate 490/1024, is the "
        "entry nearest the digital link's default (16-QAM, rate 1/2); not with bler_target"))
    bler_target: float | None = Field(None, gt=0, lt=1, description=(
        "link adaptation: at each SNR point the highest MCS of mcs_table whose transport-block BLER, read "
        "off the AWGN BLER tables at the point's nominal per-symbol SNR, is at most this target (the lowest "
        "usable MCS where none is); instead of mcs_index"))
    mcs_table: Literal[1, 2, 3, 4] = Field(1, description=(
        "TS 38.214 PDSCH MCS table: 1 (up to 64-QAM), 2 (256-QAM), 3 (low spectral efficiency), 4 (1024-QAM)"))
    bits: int = Field(4, ge=1, le=16, description="uniform quantiser bits per payload value (as the digital link)")
    mode: Literal["monte_carlo", "abstraction"] = Field("monte_carlo", description=(
        "monte_carlo: every transport block decoded, its CRC decides; abstraction: the block's (effective) "
        "SINR, an AWGN BLER table and a seeded Bernoulli draw decide, nothing is decoded"))
    on_crc_failure: Literal["erase", "use_decoded"] = Field("erase", description=(
        "a block whose CRC failed delivers the training mean of its payload (erase) or the decoder's bits "
        "as they are (use_decoded, monte_carlo only)"))
    eesm: Literal["law", "symbols"] = Field("law", description=(
        "abstraction over fast flat fading, blocks of 4096 symbols or more: the EESM drawn from the i.i.d. SINRs' "
        "law (one draw per block, nr_abstraction.eesm_by_law), or over every symbol's SINR (exact, slow)"))
    ldpc_iterations: int = Field(20, ge=1, le=10_000, description=(
        "belief-propagation iterations of the decoder (and of the decoder the abstraction's tables simulate)"))

    @model_validator(mode="after")
    def _consistent(self) -> "NROptions":
        if self.mcs_index > MAX_MCS[self.mcs_table]:
            raise ValueError(f"mcs_index {self.mcs_index} is outside TS 38.214 MCS table {self.mcs_table} "
                             f"(0..{MAX_MCS[self.mcs_table]})")
        if self.bler_target is not None and "mcs_index" in self.model_fields_set:
            raise ValueError("give mcs_index or bler_target, not both: bler_target chooses the MCS at each SNR point")
        if "eesm" in self.model_fields_set and self.mode != "abstraction":
            raise ValueError("eesm applies to mode: abstraction (monte_carlo decodes every symbol, no EESM)")
        if self.on_crc_failure == "use_decoded" and self.mode == "abstraction":
            raise ValueError("on_crc_failure: use_decoded needs mode: monte_carlo (the abstraction decodes nothing)")
        return self
# the abstraction's peak per channel symbol, measured (float32, 13 M symbols): 8 bytes awgn, 15 rayleigh_block,
# 29.5 rayleigh_fast (at most ABSTRACTION_SYMBOLS_PER_CALL symbols at once: nr_abstraction.effective_sinr)
ABSTRACTION_VALUES_PER_SYMBOL = 16

@LINKS.register("nr")
class NR(Link):
    """One 5G NR transport block per vector of a payload [..., V, T]; see the module docstring."""

    Options = NROptions
    line_style = "-."
    carries_files = True

    def __init__(self, payload_len: int, lo: float, hi: float, mean: torch.Tensor, options: NROptions | None = None):
        self.options = options = options or NROptions()
        self.check(options, payload_len)
        self.quantiser = Quantiser(payload_len, lo, hi, options.bits)  # the digital link's
        self.payload_len, self.mean = payload_len, mean  # mean [V, T]: what an erased vector delivers
        # with bler_target this link is the lowest usable MCS, the one the budgets count; at_snr gives the others
        self._at(options.mcs_index if options.bler_target is None else candidates(options, payload_len)[0])
        self._adapted: dict[int, NR] = {}  # link adaptation: this link at each MCS chosen so far

    def _at(self, index: int) -> None:
        self.mcs_index = index
        self.qm, self.rate = mcs(self.options.mcs_table, index)
        self.n_re, self.tb_size, self.cb_size, self.num_cb = tb_layout(self.info_bits, self.qm, self.rate)
        self._table = None

    # ----------------------------------------------------------------- before anything is built

    @classmethod
    def cost(cls, options: NROptions, payload_len: int) -> LinkCost:
        """With bler_target, the lowest usable MCS's: the most uses and coded bits, so budgets stay bounds."""
        index = options.mcs_index
        if options.bler_target is not None:
            index = (candidates(options, payload_len) or (MAX_MCS[options.mcs_table],))[0]
        qm, rate = mcs(options.mcs_table, index)
        try:
            n_re = tb_layout(payload_len * options.bits, qm, rate)[0]
        except ValueError:  # larger than the standard allows: check() refuses it; the budgets get the size it asks
            n_re = math.ceil(payload_len * options.bits / (qm * rate))
        if options.mode == "abstraction":
            return LinkCost(n_re, sinr_symbols=1, law_symbols=law_symbols(n_re, options.eesm == "law"))
        return LinkCost(n_re, qm * n_re, options.ldpc_iterations)

    @classmethod
    def chunk_bytes(cls, options, symbols_per_draw: int, draws: int, decoded_values: int, value_bytes: int) -> int:
        # with bler_target, the table's largest constellation (its last MCS) over the lowest MCS's symbols: a bound
        qm = mcs(options.mcs_table, MAX_MCS[options.mcs_table] if options.bler_target is not None else options.mcs_index)[0]
        entries = symbols_per_draw * 2 ** qm
        chunk = max(1, min(draws, DEMAPPER_ENTRIES_PER_CHUNK // max(1, entries))) * entries
        if options.mode == "abstraction":  # no demapper nor decoder: the channel's output and SINR per symbol
            symbols = min(chunk // 2 ** qm, ABSTRACTION_SYMBOLS_PER_CALL)
            return (symbols * ABSTRACTION_VALUES_PER_SYMBOL + decoded_values * 2) * value_bytes
        return ((chunk * DEMAPPER_VALUES_PER_ENTRY + DECODER_MESSAGES_PER_CHUNK * DECODER_VALUES_PER_MESSAGE)
                * value_bytes + decoded_values * value_bytes * 2)

    @classmethod
    def check(cls, options: NROptions, payload_len: int) -> None:
        """A transport block the standard or Sionna's encoder cannot build is refused before any work."""
        if payload_len < 1:
            raise ValueError(f"payload_len must be positive, got {payload_len}")
        if options.bler_target is not None:
            if not candidates(options, payload_len):  # then not even the highest MCS: its refusal says why
                top = MAX_MCS[options.mcs_table]
                try:
                    cls.check(options.model_copy(update={"mcs_index": top, "bler_target": None}), payload_len)
                except ValueError as e:
                    raise ValueError(f"bler_target: no MCS of table {options.mcs_table} can carry the payload; at "
                                     f"its highest, {top}: {e}") from None
            return
        qm, rate = mcs(options.mcs_table, options.mcs_index)
        k = payload_len * options.bits
        n_re, tb, cb, num_cb = tb_layout(k, qm, rate)
        cb_rate = cb * num_cb / (qm * n_re)
        if cb_rate < MIN_CB_RATE:
            raise ValueError(f"MCS {options.mcs_index} of table {options.mcs_table} (Qm={qm}, R={rate:.3f}) gives code "
                             f"blocks of rate {cb_rate:.3f} < 1/5 for a {tb}-bit transport block: Sionna's 5G LDPC "
                             f"encoder has no repetition below 1/5; choose a higher MCS")

    @classmethod
    def spend(cls, options: NROptions, mode: str, factor: int) -> NROptions | None:
        if mode == "bits":  # the code rate is the MCS's: a factor of it is no MCS
            return options.model_copy(update={"bits": factor * options.bits})
        return None

    @classmethod
    def refuses(cls, options: NROptions, scheme, vectors: int) -> str | None:
        if getattr(scheme, "sends_files", False) and options.bler_target is not None:
            return ("bler_target chooses the MCS of embedding payloads per SNR point; files (media) go at a fixed "
                    "mcs_index: list an nr link without bler_target for them")
        return super().refuses(options, scheme, vectors)

    @classmethod
    def carry_files(cls, options: NROptions, files, mean, lost) -> Link:
        """Each modality's files in the fewest equal segments that each fit one transport block (one
        slot and layer), one block per segment, a byte per payload value (``links/files.py``)."""
        from .files import Files

        per_byte = options.model_copy(update={"bits": 8})
        blocks, segments = [], []
        for f in files:
            b, length = file_segments(f.shape[1], *mcs(options.mcs_table, options.mcs_index))
            segments.append(torch.nn.functional.pad(f, (0, b * length - f.shape[1])).reshape(f.shape[0], b, length))
            # the quantiser over [0, 256) with 8 bits has unit cells: byte value k is code k exactly
            blocks.append(cls(length, 0.0, 256.0, torch.zeros(b, length), per_byte))
        return Files(options, blocks, segments, mean, lost)

    @classmethod
    def files_cost(cls, options: NROptions, file_bytes: list[int]) -> LinkCost:
        """Per instance, files of these sizes as ``carry_files`` cuts them: every segment's block."""
        per_byte = options.model_copy(update={"bits": 8})
        uses = decoded = blocks = law = 0
        for n in file_bytes:
            b, length = file_segments(n, *mcs(options.mcs_table, options.mcs_index))
            one = cls.cost(per_byte, length)
            uses, decoded, blocks, law = (uses + b * one.uses, decoded + b * one.decoded_bits, blocks + b,
                                          law + b * (one.law_symbols or 0))
        if options.mode != "abstraction":
            return LinkCost(uses, decoded, options.ldpc_iterations if decoded else 0)
        return LinkCost(uses, sinr_symbols=blocks, law_symbols=law)

    @classmethod
    def fit(cls, train_payload: torch.Tensor, options: NROptions | None = None) -> "NR":
        """Quantiser range = [min, max] of the training payload [N, V, T] (as the digital link); the
        erasure value = its mean over the instances [V, T]."""
        return cls(train_payload.shape[-1], float(train_payload.min()), float(train_payload.max()),
                   train_payload.mean(0), options)

    # ----------------------------------------------------------------- sizes

    @property
    def info_bits(self) -> int:  # k payload bits per vector; the TB pads them to tb_size
        return self.payload_len * self.options.bits

    @property
    def coded_bits(self) -> int:
        return self.qm * self.n_re

    @property
    def channel_uses(self) -> int:
        return self.n_re

    def capacity_bits(self) -> int:
        return self.info_bits  # the payload's bits, in the same resource elements

    def clean(self, payload: torch.Tensor) -> torch.Tensor:
        return self.quantiser.clean(payload)

    # ----------------------------------------------------------------- transmitter half

    def _opts(self, dtype: torch.dtype, device) -> dict:
        return {"precision": SIONNA_PRECISION[dtype], "device": str(device)}

    def send(self, payload: torch.Tensor):
        """payload [N, V, T] -> (payload bits u [N, V, k], QAM symbols x [N, V, N_RE]) or, in
        abstraction mode, (None, the quantised payload [N, V, T]): no symbol is needed, and no bit,
        since nothing is decoded to compare them with (a file's bits would be 8 values a byte)."""
        t = payload.shape[-1]
        if t != self.payload_len:
            raise ValueError(f"payload has {t} values per vector, the link was fitted for {self.payload_len}")
        if self.options.mode == "abstraction":
            return None, self.clean(payload)
        u = self.quantiser.to_bits(self.quantiser.quantize(payload)).to(payload.dtype)
        encoder = tb_blocks(self.tb_size, self.coded_bits, self.rate, self.qm, self.options.ldpc_iterations,
                            **self._opts(payload.dtype, payload.device))[0]
        tb = torch.nn.functional.pad(u, (0, self.tb_size - self.info_bits))  # zero padding up to the TB size
        return u, mapper(self.qm, **self._opts(payload.dtype, payload.device))(encoder(tb).to(payload.dtype))

    # ----------------------------------------------------------------- receiver half

    def draws_per_chunk(self, sent, snr_points: int, draws: int) -> int:
        per_draw = snr_points * sent[1].shape[0] * sent[1].shape[1] * self.n_re * 2 ** self.qm
        return max(1, min(draws, DEMAPPER_ENTRIES_PER_CHUNK // per_draw))

    def _decode(self, x_u: torch.Tensor, no_eff: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Equalised symbols [..., N_RE] -> (payload bits [..., k], CRC passed [...])."""
        encoder, demapper, decoder = tb_blocks(self.tb_size, self.coded_bits, self.rate, self.qm,
                                         self.options.ldpc_iterations, **self._opts(x_u.real.dtype, x_u.device))
        llr = demapper(x_u, no_eff)
        flat = llr.flatten(0, -2)
        edges = encoder.ldpc_encoder.pcm.nnz * self.num_cb  # BP messages per transport block
        per_decode = max(1, DECODER_MESSAGES_PER_CHUNK // edges)
        parts = [decoder(c) for c in flat.split(per_decode)]
        bits = torch.cat([p[0] for p in parts])[:, : self.info_bits].reshape(*llr.shape[:-1], -1)
        ok = torch.cat([p[1] for p in parts]).reshape(llr.shape[:-1])
        return bits, ok

    def _abstract(self, channel, symbols_shape: tuple, no: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Block failures [...] of blocks whose symbols have shape ``symbols_shape`` [S, r, N, ..., N_RE]."""
        from sionna.phy import config

        sinr_eff = effective_sinr(channel, symbols_shape, no, dtype, self.options.mcs_table, self.mcs_index,
                                  by_law=self.options.eesm == "law")
        tbler = self.tb_bler(10.0 * torch.log10(sinr_eff))
        draw = torch.rand(tbler.shape, dtype=torch.float64, device=tbler.device,
                          generator=config.torch_rng(str(tbler.device)))
        return draw < tbler

    def tb_bler(self, snr_db: torch.Tensor) -> torch.Tensor:
        """Transport-block BLER at the (effective) per-symbol SNR [dB] over AWGN: 1 - (1 - BLER)^C of its
        C code blocks, the code-block BLER read off the table."""
        return 1.0 - (1.0 - self.table().bler(snr_db)) ** self.num_cb

    def at_snr(self, snr_db: list[float], per_instance: bool, vectors: int) -> list["NR"]:
        """With bler_target: at each SNR point the highest usable MCS whose AWGN transport-block BLER at
        the point's per-symbol SNR (its own, with ``per_instance``: each MCS takes its own channel uses
        of the instance's energy) is at most the target, else the lowest; the search bisects the MCS
        indices (BLER rises with the MCS at a fixed SNR), computing few tables."""
        if self.options.bler_target is None:
            return [self] * len(snr_db)
        snr = torch.tensor(snr_db, dtype=torch.float64)

        def meets(index: int, at: torch.Tensor) -> torch.Tensor:
            link = self.with_mcs(index)
            offset = 10.0 * math.log10(vectors * link.channel_uses) if per_instance else 0.0
            return link.tb_bler(at - offset) <= self.options.bler_target

        chosen = highest_meeting(candidates(self.options, self.payload_len), snr, meets)
        return [self.with_mcs(m) for m in chosen.tolist()]

    def with_mcs(self, index: int) -> "NR":
        """This fitted link (quantiser, erasure value) at MCS ``index``: one object per index."""
        if index == self.mcs_index:
            return self
        if index not in self._adapted:
            link = copy.copy(self)
            link._at(index)
            self._adapted[index] = link
        return self._adapted[index]

    def table(self) -> BlerTable:
        if self._table is None:
            self._table = bler_table(self.qm, self.cb_size, round(self.coded_bits / self.num_cb),
                                     self.options.ldpc_iterations)
        return self._table

    def _deliver(self, bits: torch.Tensor | None, clean: torch.Tensor | None, failed: torch.Tensor,
                 dtype: torch.dtype) -> torch.Tensor:
        """Decoded bits [..., V, k] (or the clean payload [..., V, T]) and failures [..., V] -> payload [..., V, T]."""
        got = self.quantiser.dequantize(self.quantiser.from_bits(bits), dtype) if bits is not None else clean
        if self.options.on_crc_failure == "use_decoded":
            return got
        return torch.where(failed.unsqueeze(-1), self.mean.to(got.device, dtype), got)

    def receive(self, channel, sent, no: torch.Tensor, draws: int):
        u, x = sent
        s = no.shape[0]
        if self.options.mode == "abstraction":
            failed = self._abstract(channel, (s, draws, *x.shape[:-1], self.n_re), no, x.dtype)
            counts = {"block_errors": failed.sum((1, 2, 3))}
            return self._deliver(None, x.expand(s, draws, *x.shape), failed, x.dtype), counts
        x_u, no_eff = channel(x.expand(s, draws, *x.shape), no)
        bits, ok = self._decode(x_u, no_eff)  # [S, r, N, V, k], [S, r, N, V]
        counts = {"bit_errors": (bits != u).sum((1, 2, 3, 4)), "block_errors": (~ok).sum((1, 2, 3))}
        return self._deliver(bits, None, ~ok, u.dtype), counts

    def failures(self, channel, sent, no: torch.Tensor, draws: int) -> torch.Tensor:
        """Which blocks of ``send``'s output failed, bool [S, r, N, V]: ``receive``'s outcome for a
        caller that needs no payload back (whole files, ``links/files.py``)."""
        u, x = sent
        if self.options.mode == "abstraction":
            return self._abstract(channel, (no.shape[0], draws, *x.shape[:-1], self.n_re), no, x.dtype)
        x_u, no_eff = channel(x.expand(no.shape[0], draws, *x.shape), no)
        return ~self._decode(x_u, no_eff)[1]

    def receive_each(self, channel, sent, no: torch.Tensor) -> torch.Tensor:
        u, x = sent  # each instance as its own SNR point of one draw
        if self.options.mode == "abstraction":
            failed = self._abstract(channel, (x.shape[0], 1, 1, x.shape[1], self.n_re), no, x.dtype)[:, 0, 0]
            return self._deliver(None, x, failed, x.dtype)
        x_u, no_eff = channel(x[:, None, None], no)
        bits, ok = self._decode(x_u, no_eff)
        return self._deliver(bits[:, 0, 0], None, ~ok[:, 0, 0], u.dtype)

    def error_rates(self, counts, draws: int, payload_shape) -> dict[str, torch.Tensor]:
        blocks = draws * payload_shape[0] * payload_shape[1]
        bler = counts["block_errors"].double() / blocks
        out = {"bler": bler, "mcs_index": torch.full_like(bler, float(self.mcs_index)),
               "tb_size": torch.full_like(bler, float(self.tb_size))}
        if "bit_errors" in counts:  # known where blocks were decoded
            out["ber"] = counts["bit_errors"].double() / (blocks * self.info_bits)
        return out


# --------------------------------------------------------------------------------------- Sionna blocks

@lru_cache(maxsize=16)
def tb_blocks(tb_size: int, coded_bits: int, rate: float, qm: int, iterations: int, *, precision: str, device: str):
    """TBEncoder, APP demapper and TBDecoder of one transport block, built once: both ends know the code."""
    from sionna.phy.mapping import Demapper
    from sionna.phy.nr import TBDecoder, TBEncoder

    encoder = TBEncoder(tb_size, coded_bits, rate, qm, channel_type="PDSCH", precision=precision, device=device)
    if encoder.tb_size != tb_size:  # tb_layout took the size from the same routine: they must agree
        raise RuntimeError(f"TBEncoder made a {encoder.tb_size}-bit TB where calculate_tb_size gave {tb_size}")
    return (encoder, Demapper("app", "qam", qm, precision=precision, device=device),
            TBDecoder(encoder, num_bp_iter=iterations, precision=precision, device=device))


@lru_cache(maxsize=16)
def mapper(qm: int, *, precision: str, device: str):
    from sionna.phy.mapping import Mapper

    return Mapper("qam", qm, precision=precision, device=device)
