"""The nr link's abstraction against full transport-block decoding: cost, and where BLER = 10 %.

For each MCS (TS 38.214 table 1) and payload length T (TB of T * bits payload bits), over each
channel (awgn, block Rayleigh):

- **cost**: monte_carlo over the same payload, channel and SNR points, once decoding every TB,
  once by the abstraction (its table already cached: the table is a one-off cost, reported apart);
  seconds per instance and SNR point, and their ratio (goal: abstraction <= 1/100 of decoding).
- **BLER = 10 %**: the abstraction's BLER on a fine grid locates its crossing; both modes are then
  run at points around it, ``--blocks`` blocks each (``--blocks-fading`` over block Rayleigh), and each crossing is read off by linear
  interpolation of log10(BLER) between the two points that bracket 0.1. Its 95 % interval is the
  binomial one of the BLER there (1.96 sigma) divided by the local slope d BLER / d SNR.
- **capacity** (AWGN): the SNR at which log2(1 + SNR) equals the link's payload bits per channel
  use (k / N_RE, the bits and uses of the rows' capacity reference); the Monte Carlo crossing
  should lie above it by less than 3 dB.

Run: OMP_NUM_THREADS=2 python benchmarks/bench_nr.py [--smoke]
(--smoke: one MCS, T = 4, 200 blocks, AWGN only, a small table every 0.5 dB: the code path in under
a minute.)
"""
from __future__ import annotations

import argparse
import math
import os
import tempfile
import time

import torch

import semcom_sim.links.nr_abstraction as tables
from semcom_sim.channel import CHANNELS, snr_db_to_noise_var
from semcom_sim.links import LINKS, monte_carlo


def make_link(mcs_index: int, t: int, bits: int, mode: str, iterations: int):
    g = torch.Generator().manual_seed(0)
    train = torch.randn(200, 1, t, generator=g)
    return LINKS["nr"].fit(train, LINKS["nr"].Options(mcs_index=mcs_index, bits=bits, mode=mode,
                                                     ldpc_iterations=iterations))


def channel_of(name: str):
    if name == "awgn":
        return CHANNELS["awgn"](device="cpu", precision="single")
    return CHANNELS["rayleigh"](device="cpu", precision="single", fading="block")


def bler(link, payload, channel_name: str, snr_db: list[float], draws: int, seed: int = 1) -> torch.Tensor:
    from sionna.phy import config

    config.seed = seed
    out = monte_carlo(link, payload, channel_of(channel_name), snr_db_to_noise_var(torch.tensor(snr_db)), draws,
                      lambda p, _: {})
    return out["bler"]


def crossing(snr_db: list[float], b: list[float], blocks: int, target: float = 0.1) -> tuple[float, float] | None:
    """(SNR where BLER crosses ``target``, half-width of its 95 % interval in dB), or None when the
    points do not bracket it: :func:`fitted_crossing` where at least three points lie in its range,
    else the interpolation between the two points that bracket the target."""
    fitted = fitted_crossing(snr_db, b, blocks, target)
    return fitted if fitted is not None else bracketed_crossing(snr_db, b, blocks, target)


def fitted_crossing(snr_db: list[float], b: list[float], blocks: int, target: float = 0.1,
                    lo: float = 0.02, hi: float = 0.5) -> tuple[float, float] | None:
    """The crossing of a straight line fitted to ln BLER against SNR over the points with BLER in
    [lo, hi], weighted by the inverse binomial variance of ln BLER ((1 - p) / (n p)); its 95 % interval
    by the delta method. Every point's blocks count, not just the two that bracket the target: over
    block Rayleigh, where the curve is shallow, this narrows the interval by about sqrt(points / 2)."""
    pts = [(x, p) for x, p in zip(snr_db, b) if lo <= p <= hi]
    if len(pts) < 3 or not (min(p for _, p in pts) <= target <= max(p for _, p in pts)):
        return None
    x = torch.tensor([x for x, _ in pts], dtype=torch.float64)
    p = torch.tensor([p for _, p in pts], dtype=torch.float64)
    w = blocks * p / (1 - p)
    design = torch.stack([torch.ones_like(x), x], 1)
    cov = torch.linalg.inv(design.T @ (w[:, None] * design))
    a, slope = (cov @ design.T @ (w * p.log())).tolist()
    if slope >= 0:
        return None
    at = (math.log(target) - a) / slope
    grad = torch.tensor([-1.0 / slope, -at / slope], dtype=torch.float64)
    return at, 1.96 * float(grad @ cov @ grad) ** 0.5


def bracketed_crossing(snr_db: list[float], b: list[float], blocks: int, target: float = 0.1) -> tuple[float, float] | None:
    """Linear interpolation of log10(BLER) between the two points that bracket ``target``; the
    interval from the binomial spread at the target over the local slope."""
    for i in range(len(snr_db) - 1):
        hi, lo = b[i], b[i + 1]
        if hi >= target > lo:
            lo = max(lo, 0.5 / blocks)  # no error seen: log of half a block error, for the interpolation only
            f = (math.log10(hi) - math.log10(target)) / (math.log10(hi) - math.log10(lo))
            x = snr_db[i] + f * (snr_db[i + 1] - snr_db[i])
            slope = (hi - lo) / (snr_db[i + 1] - snr_db[i])  # BLER per dB, locally
            half = 1.96 * math.sqrt(target * (1 - target) / blocks) / slope
            return x, half
    return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mcs", type=int, nargs="+", default=[3, 5, 10])
    ap.add_argument("--t", type=int, nargs="+", default=[16, 64], help="payload values per vector (TB = t * bits)")
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--channels", nargs="+", default=["awgn", "rayleigh_block"])
    ap.add_argument("--blocks", type=int, default=2000, help="blocks per SNR point of the AWGN crossing runs")
    ap.add_argument("--blocks-fading", type=int, default=4000, help=(
        "blocks per SNR point of the block-Rayleigh crossing runs: the BLER curve is shallow there (about "
        "0.04 per dB at 10 %%), so a 95 %% interval of +-0.3 dB needs about 2,500"))
    ap.add_argument("--n", type=int, default=200, help="instances (one TB each) per draw")
    ap.add_argument("--cost-snr", type=float, nargs="+", default=[0.0, 5.0, 10.0])
    ap.add_argument("--table", type=int, nargs=3, metavar=("BATCH", "MAX_BATCHES", "ERRORS"),
                    help="the abstraction's table budget per SNR point (default: the link's own)")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: a quick check of the code path")
    args = ap.parse_args()
    if args.table:
        tables.TABLE_BATCH, tables.TABLE_MAX_BATCHES, tables.TABLE_ERRORS = args.table
    if args.smoke:
        args.mcs, args.t, args.channels, args.blocks, args.n, args.cost_snr = [5], [4], ["awgn"], 200, 100, [5.0]
        args.blocks_fading = 200
        tables.TABLE_BATCH, tables.TABLE_MAX_BATCHES, tables.TABLE_ERRORS, tables.TABLE_STEP_DB = 100, 1, 50, 0.5
        if "SEMCOM_SIM_CACHE" not in os.environ:  # a throw-away table cache, removed at exit
            scratch = tempfile.TemporaryDirectory(prefix="bench-nr-")
            os.environ["SEMCOM_SIM_CACHE"] = scratch.name
        print("smoke mode: tiny sizes, the code path only; the numbers mean little")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    draws = {"awgn": max(1, args.blocks // args.n), "rayleigh": max(1, args.blocks_fading // args.n)}
    print(f"table cache: {tables.table_dir()}; blocks per SNR point: {draws['awgn'] * args.n} over AWGN, "
          f"{draws['rayleigh'] * args.n} over block Rayleigh ({args.n} instances per draw)")
    g = torch.Generator().manual_seed(1)
    for t in args.t:
        payload = torch.randn(args.n, 1, t, generator=g)
        for m in args.mcs:
            mc = make_link(m, t, args.bits, "monte_carlo", args.iterations)
            ab = make_link(m, t, args.bits, "abstraction", args.iterations)
            t0 = time.perf_counter()
            ab.table()
            table_s = time.perf_counter() - t0
            head = (f"MCS {m} (Qm={mc.qm}, R={mc.rate:.3f}), T={t}: k={mc.info_bits}, TB {mc.tb_size} bits, "
                    f"{mc.num_cb} x {mc.cb_size}-bit code blocks in {mc.n_re} REs")
            print(f"\n{head}; table {table_s:.1f} s (0 if cached)")
            cost_snr = args.cost_snr
            t0 = time.perf_counter()
            bler(mc, payload, "awgn", cost_snr, 1)
            t_mc = time.perf_counter() - t0
            t0 = time.perf_counter()
            bler(ab, payload, "awgn", cost_snr, 1)
            t_ab = time.perf_counter() - t0
            per = args.n * len(cost_snr)
            print(f"  cost per instance and SNR point (awgn): decoding {1e3 * t_mc / per:.3f} ms, abstraction "
                  f"{1e3 * t_ab / per:.4f} ms, ratio 1/{t_mc / t_ab:.0f}")
            for ch in args.channels:
                name = "awgn" if ch == "awgn" else "rayleigh"
                # the abstraction's own crossing on a fine grid, then both modes around it
                fine = [x / 4 for x in range(-40, 161)]
                b_fine = bler(ab, payload, name, fine, 1).tolist()
                first = next((x for x, b in zip(fine, b_fine) if b < 0.1), None)
                if first is None:
                    print(f"  {ch}: BLER stays above 10 % up to {fine[-1]} dB")
                    continue
                step, span = (0.25, 6) if name == "awgn" else (1.0, 4)
                grid = [first + step * (i - span // 2) for i in range(span + 1)]
                blocks = draws[name] * args.n
                b_mc = bler(mc, payload, name, grid, draws[name], seed=2).tolist()
                b_ab = bler(ab, payload, name, grid, draws[name], seed=3).tolist()
                c_mc, c_ab = crossing(grid, b_mc, blocks), crossing(grid, b_ab, blocks)
                print(f"  {ch}: {blocks} blocks per point, SNR grid {grid}\n    BLER decoding    {[round(b, 4) for b in b_mc]}"
                      f"\n    BLER abstraction {[round(b, 4) for b in b_ab]}")
                if c_mc is None or c_ab is None:
                    print("    10 % not bracketed by one of the modes")
                    continue
                print(f"    BLER 10 % at {c_mc[0]:.2f} +- {c_mc[1]:.2f} dB decoding, {c_ab[0]:.2f} +- {c_ab[1]:.2f} dB "
                      f"abstraction: difference {c_ab[0] - c_mc[0]:+.2f} dB")
                if name == "awgn":
                    se = mc.info_bits / mc.n_re
                    cap = 10 * math.log10(2 ** se - 1)
                    print(f"    capacity: {se:.3f} payload bits per RE (MCS nominal {mc.qm * mc.rate:.3f}) needs "
                          f"{cap:.2f} dB; decoding's crossing is {c_mc[0] - cap:+.2f} dB above")


if __name__ == "__main__":
    main()
