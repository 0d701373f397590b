"""The nr link's bler_target: SNR -> chosen MCS -> channel uses -> realised BLER over AWGN and block
Rayleigh, in abstraction mode, with the time of each BLER table the choice computes.

A payload of T values at 4 bits (one vector per instance), the AWGN tables at a reduced budget
(200-block batches, at most 5 per point, 100 errors: bench_nr.py's), 500 test instances x 4 draws =
2000 blocks per point; the SNR values are per symbol. Ends by checking, over the tables computed,
that the TB BLER rises with the MCS at every SNR point (the bisection's assumption).

Run: OMP_NUM_THREADS=2 python benchmarks/bench_nr_adaptation.py T TARGET SNR_DB [SNR_DB ...]
e.g. python benchmarks/bench_nr_adaptation.py 16 0.1 0 4 8 12 16 20
     python benchmarks/bench_nr_adaptation.py --smoke   (T = 4, one SNR point, tables of one 100-block
     batch every 0.5 dB in a throw-away cache: the code path, for CI, not for the numbers)
"""
import os
import sys
import tempfile
import time

import torch

import semcom_sim.links.nr_abstraction as tables
from semcom_sim.channel import CHANNELS, snr_db_to_noise_var
from semcom_sim.links import LINKS, monte_carlo
from semcom_sim.links.nr_sizes import candidates

tables.TABLE_BATCH, tables.TABLE_MAX_BATCHES, tables.TABLE_ERRORS = 200, 5, 100
built = []
_simulate = tables.simulate_table


def _timed(*key):  # (Qm, code block, coded bits, iterations, device)
    start = time.perf_counter()
    out = _simulate(*key)
    built.append(time.perf_counter() - start)
    print(f"table (Qm, code block, coded bits, iterations) {key[:4]}: {built[-1]:.1f} s", flush=True)
    return out


def main(t: int, target: float, grid: list[float]) -> None:
    from sionna.phy import config

    tables.simulate_table = _timed
    g = torch.Generator().manual_seed(0)
    train, test = torch.randn(200, 1, t, generator=g), torch.randn(500, 1, t, generator=g)
    link = LINKS["nr"].fit(train, LINKS["nr"].Options(bler_target=target, mode="abstraction"))
    print("candidates", candidates(link.options, t), flush=True)
    start = time.perf_counter()
    chosen = link.at_snr(grid, False, 1)
    print(f"choice: {time.perf_counter() - start:.1f} s, {len(built)} tables computed", flush=True)
    print("| SNR per symbol [dB] | MCS | Qm, R | channel uses | TB | table TB BLER | realised BLER AWGN | block Rayleigh |")
    print("|---|---|---|---|---|---|---|---|")
    for snr, lk in zip(grid, chosen):
        realised = []
        for ch in (CHANNELS["awgn"](device="cpu", precision="single"),
                   CHANNELS["rayleigh"](device="cpu", precision="single", fading="block")):
            config.seed = 1
            out = monte_carlo(lk, test, ch, snr_db_to_noise_var(torch.tensor([snr])), 4,
                              lambda p, _: {"n": torch.ones(p.shape[:2])})
            realised.append(float(out["bler"][0]))
        table = float(lk.tb_bler(torch.tensor([snr], dtype=torch.float64)))
        print(f"| {snr:g} | {lk.mcs_index} | {lk.qm}, {lk.rate:.3f} | {lk.channel_uses} | {lk.tb_size} | {table:.3f} | "
              f"{realised[0]:.3f} | {realised[1]:.3f} |", flush=True)
    done = [m for m in candidates(link.options, t) if link.with_mcs(m)._table is not None]
    for snr in grid:
        at = torch.tensor([snr], dtype=torch.float64)
        bler = [float(link.with_mcs(m).tb_bler(at)) for m in done]
        if any(b < a for a, b in zip(bler, bler[1:])):
            print(f"BLER not rising with the MCS at {snr:g} dB: {list(zip(done, bler))}")
    print(f"tables for MCS {done}; seconds each: {[round(x, 1) for x in built]}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--smoke"]:
        tables.TABLE_BATCH, tables.TABLE_MAX_BATCHES, tables.TABLE_ERRORS, tables.TABLE_STEP_DB = 100, 1, 50, 0.5
        if "SEMCOM_SIM_CACHE" not in os.environ:  # a throw-away table cache, removed at exit
            scratch = tempfile.TemporaryDirectory(prefix="bench-nr-adaptation-")
            os.environ["SEMCOM_SIM_CACHE"] = scratch.name
        print("smoke mode: tiny sizes, the code path only; the numbers mean little")
        main(4, 0.1, [10.0])
    else:
        main(int(sys.argv[1]), float(sys.argv[2]), [float(x) for x in sys.argv[3:]])
