"""TS 38.214 sizes of the nr link (``links/nr.py``): the MCS tables, the smallest allocation whose
transport block holds a payload, and which MCS indices can carry a payload at all (link adaptation's
candidates)."""
from __future__ import annotations

import math
from functools import lru_cache

import torch

# highest MCS index of each TS 38.214 PDSCH table (5.1.3.1-1 to -4), as Sionna's decode_mcs_index accepts
MAX_MCS = {1: 28, 2: 27, 3: 28, 4: 26}
# one transport block per slot and layer: at most 275 PRBs x 156 data resource elements (TS 38.214 5.1.3.2)
MAX_RESOURCE_ELEMENTS = 275 * 156
# Sionna's 5G LDPC encoder has no repetition: a code block's rate must be at least 1/5; TS 38.214
# 5.1.3.1 does not expect a UE to decode a TB of effective code rate above 0.95
MIN_CB_RATE, MAX_EFFECTIVE_RATE = 1 / 5, 0.95


@lru_cache(maxsize=64)
def mcs(table: int, index: int) -> tuple[int, float]:
    """(QAM order Qm, target code rate R) of a PDSCH MCS, from Sionna's TS 38.214 tables."""
    from sionna.phy.nr.utils import decode_mcs_index

    qm, rate = decode_mcs_index(index, table_index=table, is_pusch=False, device="cpu")
    return int(qm), float(rate)


@lru_cache(maxsize=256)
def tb_layout(k: int, qm: int, rate: float) -> tuple[int, int, int, int]:
    """(resource elements N_RE, TB size, code-block size with CRC, code blocks) of the smallest
    allocation whose TS 38.214 TB size holds ``k`` bits at an effective code rate (code blocks with
    their CRCs over the coded bits) of at most 0.95: the TB size never falls below 24 bits, so the
    smallest allocations would otherwise carry 24 bits and a CRC in a handful of coded bits. Raises
    ValueError beyond one slot's MAX_RESOURCE_ELEMENTS."""
    from sionna.phy.nr.utils import calculate_tb_size

    n_re = torch.arange(1, MAX_RESOURCE_ELEMENTS + 1)
    tb, cb, num_cb, *_ = calculate_tb_size(modulation_order=torch.full_like(n_re, qm),
                                           target_coderate=torch.full(n_re.shape, rate), num_coded_bits=qm * n_re,
                                           return_cw_length=False, device="cpu")
    fits = ((tb >= k) & (cb * num_cb <= MAX_EFFECTIVE_RATE * qm * n_re)).nonzero()
    if not len(fits):
        raise ValueError(f"a transport block of {k} bits at Qm={qm}, R={rate:.3f} needs more than "
                         f"{MAX_RESOURCE_ELEMENTS} resource elements (275 PRBs x 156, one slot and layer: the "
                         f"largest TS 38.214 allocation; largest TB {int(tb[-1])} bits): lower payload_len or bits, or "
                         "raise the MCS")
    i = int(fits[0])
    return int(n_re[i]), int(tb[i]), int(cb[i]), int(num_cb[i])


def usable_uses(options, payload_len: int, index: int) -> int | None:
    """Resource elements MCS ``index`` of the options' table takes for ``payload_len`` values, or None
    where it cannot carry them: a transport block beyond one slot, or code blocks below rate 1/5
    (what ``NR.check`` refuses for a given MCS)."""
    qm, rate = mcs(options.mcs_table, index)
    try:
        n_re, _, cb, num_cb = tb_layout(payload_len * options.bits, qm, rate)
    except ValueError:
        return None
    return n_re if cb * num_cb / (qm * n_re) >= MIN_CB_RATE else None


@lru_cache(maxsize=64)
def candidates(options, payload_len: int) -> tuple[int, ...]:
    """The MCS indices link adaptation chooses from, ascending: the usable ones that take fewer
    resource elements than every lower one. A higher MCS is worth its higher BLER only for its fewer
    channel uses, and at small payloads the TS 38.214 sizes give the highest MCSs larger allocations
    (64 bits: MCS 24 of table 1 takes 15 resource elements, MCS 28 a 320-bit TB in 59)."""
    out, fewest = [], math.inf
    for m in range(MAX_MCS[options.mcs_table] + 1):
        n_re = usable_uses(options, payload_len, m)
        if n_re is not None and n_re < fewest:
            out.append(m)
            fewest = n_re
    return tuple(out)


def fits_one_block(k: int, qm: int, rate: float) -> bool:
    """Whether ``k`` bits fit one transport block (one slot and layer) at Qm, R."""
    try:
        tb_layout(k, qm, rate)
        return True
    except ValueError:
        return False


def file_segments(n_bytes: int, qm: int, rate: float) -> tuple[int, int]:
    """(segments, bytes each): the fewest equal segments of an ``n_bytes`` file that each fit one
    transport block at Qm, R (a file that does not fit one slot goes in several)."""
    b = 1
    while not fits_one_block(8 * math.ceil(n_bytes / b), qm, rate):
        b += 1
    return b, math.ceil(n_bytes / b)
