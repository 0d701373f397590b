"""The 5G NR link's PHY abstraction (``mode: abstraction`` of ``links/nr.py``): Sionna's EESM for a
SINR that varies within a block, and the AWGN BLER tables of each code block's own code, shipped
(``nr_tables/``) or computed once by Sionna's routine and cached (see :func:`bler_table`).

Why not the tables Sionna ships: those start at MCS 3 (2 in table 2), stop at code-block size 2000
(beyond it ``PHYAbstraction`` clamps to the 2000 curve, an extrapolation this link must not make),
sample the SNR every 1.8 dB, too coarse for a BLER curve that falls from 90 % to 1 % within about
1 dB, and are simulated at the MCS's target rate R: a small TB's CRC makes its code blocks' actual
rate higher (a 32-bit TB with its 16-bit CRC is coded at 1.5 R), which is why the tables here are
keyed by the code block's own rate (coded bits per block), not by the MCS."""
from __future__ import annotations

import json
import math
import os
from functools import lru_cache
from pathlib import Path
from typing import Callable

import torch

from ..errors import BrokenInstall

# tables: AWGN code-block BLER every TABLE_STEP_DB from the capacity SNR of the code block's own rate
# (Qm x its code rate) - TABLE_BELOW_DB up to
# + TABLE_ABOVE_DB (stopping after the first point without errors); each point runs batches of
# TABLE_BATCH blocks until TABLE_ERRORS block errors or TABLE_MAX_BATCHES batches
TABLE_STEP_DB, TABLE_BELOW_DB, TABLE_ABOVE_DB = 0.25, 4.0, 10.0
TABLE_BATCH, TABLE_MAX_BATCHES, TABLE_ERRORS = 500, 8, 200
TABLE_DECODE_LLRS = 1 << 17  # the decoder's input per call while building a table (see _coded_awgn)
TABLE_EDGE_LOW = 0.99  # the lowest SNR point must fail (almost) every block: below it BLER is held there
TABLE_SEED = 20260423  # tables are deterministic whatever the run's seed: one per key, shared by runs
TABLE_VERSION = 1  # bump when the table's recipe changes: older entries are then not read
# the most symbols put through the channel (and the EESM) at once where the SINR varies within a block
ABSTRACTION_SYMBOLS_PER_CALL = 1 << 24
# the EESM by the SINR's law (eesm_by_law): blocks of at least this many symbols, each SNR point's law
# estimated from this many symbols
EESM_LAW_MIN_SYMBOLS, EESM_LAW_SAMPLE = 4096, 1 << 20


@lru_cache(maxsize=4)
def _eesm(device: str):
    from sionna.sys import EESM

    return EESM(precision="double", device=device)


def _calibrated(table: int, device: str):
    """Sionna's EESM, refusing the MCS tables its shipped beta parameters do not calibrate."""
    block = _eesm(device)
    if table not in block.beta_table["index"]:
        raise ValueError(f"Sionna's EESM has no beta parameters for MCS table {table} (only "
                         f"{sorted(block.beta_table['index'])}): the abstraction cannot map a SINR that varies "
                         "within a block; use mode: monte_carlo or another mcs_table")
    return block


def eesm(table: int, index: int, sinr: torch.Tensor) -> torch.Tensor:
    """Sionna's EESM over the last dimension (a block's symbols): [..., L] -> [...]."""
    block = _calibrated(table, str(sinr.device))
    lead = sinr.shape[:-1]
    flat = sinr.reshape(-1, sinr.shape[-1], 1, 1, 1)  # [B, OFDM symbols = L, subcarriers, users, streams]
    mcs_index = torch.full((flat.shape[0], 1), index, dtype=torch.int32, device=sinr.device)
    return block(flat, mcs_index, mcs_table_index=table, mcs_category=1).reshape(lead)


def eesm_by_law(channel, symbols_shape: tuple, no: torch.Tensor, cplx: torch.dtype, table: int,
                index: int) -> torch.Tensor:
    """The EESM of blocks whose L symbols see i.i.d. SINRs (``Channel.iid_sinr_per_symbol``), drawn from
    its law instead of from every symbol: SINR_eff = -beta ln(mean of exp(-SINR_i / beta)), and the
    mean of L i.i.d. terms in (0, 1] is normal by the central limit theorem, with the mean and variance
    of one term, which EESM_LAW_SAMPLE symbols of each SNR point estimate. One normal draw per block
    (Sionna's generator) and Sionna's beta and clipping to [-30, 30] dB; [S, r, N, ...] like
    :func:`eesm`. Its error against the symbol-by-symbol EESM is measured in tests/test_nr_link.py."""
    from sionna.phy import config

    block = _calibrated(table, str(no.device))
    beta = float(block.beta_table["index"][table][index])
    step = max(1, ABSTRACTION_SYMBOLS_PER_CALL // EESM_LAW_SAMPLE)  # SNR points sampled at once
    laws = []
    for i in range(0, symbols_shape[0], step):
        part = no[i: i + step]
        terms = torch.exp(-channel.sinr((part.shape[0], *(1,) * (len(symbols_shape) - 2), EESM_LAW_SAMPLE), part,
                                        cplx) / beta)  # [s, 1, ..., sample]
        laws.append(torch.stack([terms.mean(-1), terms.var(-1)]))
    mean, var = torch.cat(laws, 1)
    z = torch.randn(symbols_shape[:-1], dtype=torch.float64, device=no.device,
                    generator=config.torch_rng(str(no.device)))
    m = (mean + (var / symbols_shape[-1]).sqrt() * z).clamp(torch.finfo(torch.float64).tiny, 1.0)
    return (-beta * m.log()).clamp(float(block._sinr_eff_min), float(block._sinr_eff_max))


def law_symbols(block_symbols: int, by_law: bool) -> int:
    """Symbols of a block of ``block_symbols`` that :func:`effective_sinr` pushes through a channel with
    i.i.d. SINRs: one draw where it maps the block by its law, else every symbol (for the budgets; the
    law's sample, EESM_LAW_SAMPLE per SNR point and call, aside)."""
    return 1 if by_law and block_symbols >= EESM_LAW_MIN_SYMBOLS else block_symbols


def effective_sinr(channel, symbols_shape: tuple, no: torch.Tensor, dtype: torch.dtype, mcs_table: int,
                   mcs_index: int, by_law: bool = True) -> torch.Tensor:
    """Effective SINR (float64) of each block [S, r, N, ...] whose symbols have shape ``symbols_shape``
    [S, r, N, ..., L] (``no`` [S]), from the channel's ``sinr``: the block's own where the channel has
    one SINR per vector; with ``by_law``, over i.i.d. SINRs, blocks of at least EESM_LAW_MIN_SYMBOLS
    symbols and fewer symbols sampled than the blocks hold, :func:`eesm_by_law`; else the EESM of its
    symbols'. Those go through the channel and the EESM at most ABSTRACTION_SYMBOLS_PER_CALL at a time:
    a slice of the instances (dimension 2), or of the SNR points where there is one instance a point
    (``receive_each``)."""
    cplx = torch.complex128 if dtype == torch.float64 else torch.complex64
    per_symbol = not channel.one_sinr_per_block(**channel.options)
    if per_symbol and by_law and channel.iid_sinr_per_symbol(**channel.options) and \
            symbols_shape[-1] >= EESM_LAW_MIN_SYMBOLS and \
            symbols_shape[0] * EESM_LAW_SAMPLE < math.prod(symbols_shape):
        return eesm_by_law(channel, symbols_shape, no, cplx, mcs_table, mcs_index)
    dim = 2 if symbols_shape[2] > 1 else 0
    size = symbols_shape[dim]
    one = math.prod(symbols_shape) // size if per_symbol else 0  # symbols of one slice entry
    step = max(1, ABSTRACTION_SYMBOLS_PER_CALL // one) if one else size
    parts = []
    for i in range(0, size, step):
        shape = list(symbols_shape)
        shape[dim] = min(step, size - i)
        sinr = channel.sinr(tuple(shape), no[i: i + step] if dim == 0 else no, cplx)
        if sinr.shape[-1] == 1:  # one SINR per block (AWGN, block fading): it is the effective one
            parts.append(sinr[..., 0].expand(shape[:-1]))
        else:
            parts.append(eesm(mcs_table, mcs_index, sinr.expand(shape)))
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim)


# --------------------------------------------------------------------------------------- BLER tables

class BlerTable:
    """AWGN code-block BLER on a uniform SNR grid [dB]; :meth:`bler` interpolates linearly in dB and
    holds the edge values outside (the table runs from BLER >= TABLE_EDGE_LOW down to no error)."""

    def __init__(self, snr_db: list[float], bler: list[float]):
        self.start, self.step = snr_db[0], snr_db[1] - snr_db[0]
        self.values = torch.tensor(bler, dtype=torch.float64)

    def bler(self, snr_db: torch.Tensor) -> torch.Tensor:
        v = self.values.to(snr_db.device)
        pos = ((snr_db.double() - self.start) / self.step).clamp(0, len(v) - 1)
        lo = pos.floor().long().clamp(max=len(v) - 2)
        w = pos - lo
        return v[lo] * (1 - w) + v[lo + 1] * w


def table_dir() -> Path:
    """Where tables are cached: ``$SEMCOM_SIM_CACHE/nr-bler`` (default ``~/.cache/semcom-sim``)."""
    env = os.environ.get("SEMCOM_SIM_CACHE")
    return (Path(env) if env else Path.home() / ".cache" / "semcom-sim") / "nr-bler"


# tables built ahead and shipped with the package (scripts/build_bler_tables.py), read before the cache
SHIPPED_TABLES = Path(__file__).with_name("nr_tables")


def table_key(qm: int, cb_size: int, cb_coded_bits: int, iterations: int) -> str:
    """The file name (without .json) of a table: its code, the recipe's budget and version, Sionna's
    version (whose chain it simulates)."""
    import sionna

    return (f"q{qm}-k{cb_size}-n{cb_coded_bits}-it{iterations}-b{TABLE_BATCH}x{TABLE_MAX_BATCHES}e{TABLE_ERRORS}"
            f"-v{TABLE_VERSION}-sionna{sionna.__version__}")


def read_table(f) -> dict:
    """A table's JSON value from a binary file (a cache entry or a shipped table)."""
    value = json.loads(f.read().decode())
    if not isinstance(value, dict) or len(value.get("bler", ())) < 2 or \
            len(value["bler"]) != len(value.get("snr_db", ())) or not all(0.0 <= b <= 1.0 for b in value["bler"]):
        raise ValueError("not a BLER table")
    return value


def _check_code(value: dict, qm: int, cb_size: int, cb_coded_bits: int, iterations: int) -> None:
    """A shipped table must say it is this code's, on the recipe's SNR grid (its name could lie)."""
    if (value.get("qm"), value.get("cb_size"), value.get("iterations"), value.get("rate")) != \
            (qm, cb_size, iterations, cb_size / cb_coded_bits) or \
            value["snr_db"] != _snr_grid(qm, cb_size / cb_coded_bits)[: len(value["snr_db"])]:
        raise ValueError(f"not the BLER table of {cb_size}-bit code blocks in {cb_coded_bits} bits, Qm {qm}, "
                         f"{iterations} iterations, on the recipe's SNR grid")


@lru_cache(maxsize=64)
def bler_table(qm: int, cb_size: int, cb_coded_bits: int, iterations: int) -> BlerTable:
    """The AWGN BLER curve of one code block (Qm-QAM, ``cb_size`` bits with their CRC coded into
    ``cb_coded_bits``, BP ``iterations``): the shipped one (``nr_tables/``) where the package has it,
    else computed once by Sionna's own routine and cached (entries verified and healed by
    ``semcom_sim.cache``), the chain on Sionna's configured device (the run's).

    The routine is the one ``PHYAbstraction.new_bler_table`` runs, ``sim_ber`` over
    ``CodedAWGNChannelNR``'s chain (:func:`_coded_awgn`), called directly: ``new_bler_table``
    simulates every point for its full budget, where here a point stops after TABLE_ERRORS block
    errors (the high-BLER points cost one batch instead of TABLE_MAX_BATCHES).
    """
    from ..cache import load_or_build
    from sionna.phy import config

    key = table_key(qm, cb_size, cb_coded_bits, iterations)

    shipped = SHIPPED_TABLES / f"{key}.json"
    if shipped.is_file():
        with open(shipped, "rb") as f:  # a broken shipped table is a broken install: say so, never fall back
            try:
                value = read_table(f)
                _check_code(value, qm, cb_size, cb_coded_bits, iterations)
            except ValueError as e:
                raise BrokenInstall(f"{shipped}: {e}; reinstall semcom-sim") from None
    else:
        def build() -> dict:
            return simulate_table(qm, cb_size, cb_coded_bits, iterations, str(config.device))

        def save(value: dict, f) -> None:
            f.write(json.dumps(value).encode())

        value, _ = load_or_build(table_dir() / f"{key}.json", build, save, read_table)
    if value["bler"][0] < TABLE_EDGE_LOW:
        raise ValueError(f"the BLER table of {cb_size}-bit code blocks in {cb_coded_bits} bits ({2 ** qm}-QAM) starts at "
                         f"BLER {value['bler'][0]:.3f} < {TABLE_EDGE_LOW} at {value['snr_db'][0]:.2f} dB: below it the "
                         "abstraction would extrapolate; use mode: monte_carlo")
    return BlerTable(value["snr_db"], value["bler"])


def _snr_grid(qm: int, rate: float) -> list[float]:
    capacity_db = 10.0 * math.log10(2.0 ** (qm * rate) - 1.0)  # where AWGN capacity equals the MCS's efficiency
    first = TABLE_STEP_DB * math.floor((capacity_db - TABLE_BELOW_DB) / TABLE_STEP_DB)
    return [first + i * TABLE_STEP_DB for i in range(int((TABLE_BELOW_DB + TABLE_ABOVE_DB) / TABLE_STEP_DB) + 1)]


def simulate_table(qm: int, cb_size: int, cb_coded_bits: int, iterations: int, device: str = "cpu") -> dict:
    """A table's JSON value, simulated: the random draws from the CPU generator seeded by TABLE_SEED
    (the same whatever ``device``), the chain (encoder to decoder) on ``device``."""
    from sionna.phy import config
    from sionna.phy.utils import sim_ber

    rate = cb_size / cb_coded_bits
    snr_db = _snr_grid(qm, rate)
    channel = _coded_awgn(qm, cb_size, rate, iterations, device)
    rng = config.torch_rng("cpu")
    state = rng.get_state()
    rng.manual_seed(TABLE_SEED)
    try:  # sim_ber's SNR axis is Eb/N0 of the information bits: Es/N0 - 10 log10(Qm R), as new_bler_table converts
        ebno = torch.tensor([x - 10.0 * math.log10(qm * rate) for x in snr_db], dtype=torch.float32)
        _, bler = sim_ber(channel, ebno, TABLE_BATCH, TABLE_MAX_BATCHES, num_target_block_errors=TABLE_ERRORS,
                          early_stop=True, verbose=False, precision="single", device="cpu")
    finally:
        rng.set_state(state)
    return {"snr_db": snr_db, "bler": [float(b) for b in bler], "qm": qm, "rate": rate, "cb_size": cb_size,
            "iterations": iterations, "blocks_per_point_max": TABLE_BATCH * TABLE_MAX_BATCHES,
            "target_block_errors": TABLE_ERRORS, "chain_device": torch.device(device).type}


def _coded_awgn(qm: int, cb_size: int, rate: float, iterations: int, device: str = "cpu") -> Callable:
    """``sim_ber``'s Monte-Carlo function: Sionna's ``CodedAWGNChannelNR`` chain (random bits, 5G LDPC
    encoder, QAM, AWGN, APP demapper, BP decoder), its blocks built as its ``call`` builds them but once.
    The random draws (bits, noise) come from the CPU generator, so they are the same on any machine;
    the encoder, mapper, demapper and decoder run on ``device``. On the CPU the decoder takes
    TABLE_DECODE_LLRS LLRs at a time, since ``CodedAWGNChannelNR`` decodes its whole batch at once and on
    16,992-bit code blocks that costs 224 ms a block against 80 ms in chunks of 5 to 10 (BP is
    memory-bound, one core's cache); elsewhere the whole batch. The draws are the same, in the same
    order, and decoding is per block, so a batch gives the same bits as ``CodedAWGNChannelNR``'s on the
    CPU, and on a GPU the same up to its floating-point arithmetic, which decided no block differently
where tested (``tests/test_nr_link.py``)."""
    from sionna.phy.channel import AWGN
    from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
    from sionna.phy.mapping import BinarySource, Constellation, Demapper, Mapper
    from sionna.phy.nr.utils import CodedAWGNChannelNR
    from sionna.phy.utils import ebnodb2no

    if torch.device(device).type == "cuda" and torch.device(device).index is None:  # Sionna names the GPU
        device = f"cuda:{torch.cuda.current_device()}"
    cpu, opts = {"precision": "single", "device": "cpu"}, {"precision": "single", "device": device}
    sizes = CodedAWGNChannelNR(qm, cb_size, rate, num_iter_decoder=iterations, **cpu)  # its coded bits and rate
    source, awgn = BinarySource(**cpu), AWGN(**cpu)
    constellation = Constellation("qam", qm, **opts)
    mapper, demapper = Mapper(constellation=constellation, **opts), Demapper("app", constellation=constellation, **opts)
    encoder = LDPC5GEncoder(cb_size, int(sizes.num_coded_bits), num_bits_per_symbol=qm, **opts)
    decoder = LDPC5GDecoder(encoder, hard_out=True, num_iter=iterations, cn_update="boxplus-phi", **opts)
    on_cpu = torch.device(device).type == "cpu"
    chunk = max(1, TABLE_DECODE_LLRS // int(sizes.num_coded_bits)) if on_cpu else TABLE_BATCH

    def run(batch_size: int, ebno_db) -> tuple[torch.Tensor, torch.Tensor]:
        no = ebnodb2no(ebno_db, num_bits_per_symbol=qm, coderate=sizes.target_coderate)
        bits = source([batch_size, cb_size])
        y = awgn(mapper(encoder(bits.to(device))).cpu(), no)
        llr = demapper(y.to(device), no.to(device))
        return bits, torch.cat([decoder(part).cpu() for part in llr.split(chunk)])

    return run


# --------------------------------------------------------------------------------------- link adaptation

def highest_meeting(indices: tuple[int, ...], snr_db: torch.Tensor,
                    meets: Callable[[int, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """At each SNR point of ``snr_db`` [P], the highest MCS of ``indices`` (ascending) for which
    ``meets(index, snr_db subset)`` holds, else the lowest: a bisection per point over the indices
    (``meets`` must turn false, once, as the MCS rises), all points that probe the same index at once,
    so only the tables the bisections visit are computed."""
    lo = torch.full(snr_db.shape, -1)  # position known to meet (-1: none yet)
    hi = torch.full(snr_db.shape, len(indices))  # position known to fail (len: none yet)
    while bool((open_ := hi - lo > 1).any()):
        mid = (lo + hi) // 2
        for p in mid[open_].unique().tolist():
            at = (open_ & (mid == p)).nonzero()[:, 0]
            ok = meets(indices[p], snr_db[at])
            lo[at[ok]], hi[at[~ok]] = p, p
    return torch.tensor(indices)[lo.clamp(min=0)]
