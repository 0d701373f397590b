"""Cost of the channel-plus-receiver stage against bare Sionna calls on the same symbols.

The stage is what the sweep runs per (scheme, RFS fraction, channel): power normalisation and
mapping to symbols, the channel (Sionna draws the fading and applies it with the noise),
equalisation, unmapping and the classification head with its top-1/top-5 accuracy. References:
a bare Sionna ``AWGN`` call, and a bare ``ApplyFlatFadingChannel`` call with coefficients drawn
beforehand in the shape the stage draws them (block: one per vector, fast: one per symbol), alone
and together with ``GenerateFlatFadingChannel``.

Two forms of the stage are timed: ``links.monte_carlo`` over the analog link as the sweep runs it
(receiving through ``Channel.mmse``: y and the MMSE weight w, folded into the unmapping), and the
former form, the unbiased estimate and its error variance from ``Channel.__call__`` turned into an
MMSE gain (``mmse_gain``) in a separate pass. All variants are timed in turn within each repeat, so
a busy machine slows them alike; the figures are medians.
The OFDM chain of the ``tdl`` model (preset tdl_c: packing onto resource grids, ``ResourceGridMapper``,
``OFDMChannel`` with TR 38.901 TDL-C, LS estimation with interpolation, LMMSE equalisation,
unpacking) is timed per symbol against a bare Sionna ``OFDMChannel`` call on the same grids (the
mapped slots, ready), as one call and in the chain's own passes of slots (goal: at most 1.5x).
Run: OMP_NUM_THREADS=2 python benchmarks/bench_channel.py [--smoke]
(--smoke: tiny sizes, a few seconds, the same code path; for CI, not for the numbers.)
"""
from __future__ import annotations

import argparse
import math
import statistics
import time

import torch
from sionna.phy.channel import AWGN, ApplyFlatFadingChannel, GenerateFlatFadingChannel, OFDMChannel
from sionna.phy.mimo import lmmse_equalizer

from semcom_sim.channel import build_channel, mmse_gain, snr_db_to_noise_var
from semcom_sim.scenario import load_channel_preset
from semcom_sim.links import monte_carlo
from semcom_sim.receiver import LinearHead
from semcom_sim.receiver.receiver import Receiver
from semcom_sim.runtime import Runtime
from semcom_sim.links.analog import Analog


def median_times(fns: dict, repeats: int) -> dict[str, float]:
    """Median wall time of each function; every repeat runs all of them in turn."""
    for fn in fns.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def stage_via_call(link: Analog, payload, receiver: Receiver, channel, no, mc_draws: int) -> dict:
    """The former stage for one chunk of draws: ``Channel.__call__`` and ``mmse_gain``."""
    x = link.modulate(payload)
    x_u, no_eff = channel(x.expand(no.shape[0], mc_draws, *x.shape), no)
    return {k: v.mean(1) for k, v in receiver.measure(link.demodulate(x_u, mmse_gain(no_eff))).items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000, help="test instances")
    ap.add_argument("--draws", type=int, default=4, help="Monte-Carlo draws")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (n 64, 1 draw, 2 repeats): a quick check")
    args = ap.parse_args()
    if args.smoke:
        args.n, args.draws, args.repeats = 64, 1, 2
        print("smoke mode: tiny sizes, the code path only; the times mean nothing")

    Runtime.create("cpu", "float32", 0)  # configures Sionna's device and precision
    g = torch.Generator().manual_seed(0)
    snr_db = tuple(float(s) for s in range(-10, 21, 3))  # 11 points
    payload = torch.nn.functional.normalize(torch.randn(args.n, 3, 64, generator=g), dim=-1)  # conventional
    labels = torch.randint(0, 10, (args.n,), generator=g)
    receiver = Receiver(LinearHead(torch.randn(10, 3 * 64, generator=g), torch.zeros(10)), labels)
    link = Analog.fit(payload)
    x = link.modulate(payload).expand(len(snr_db), args.draws, *link.modulate(payload).shape)
    no = snr_db_to_noise_var(torch.tensor(snr_db))
    print(f"{x.numel() / 1e6:.2f} M channel symbols per call, {torch.get_num_threads()} threads, "
          f"median of {args.repeats}")

    awgn, gen, app = AWGN(), GenerateFlatFadingChannel(1, 1), ApplyFlatFadingChannel()
    no_b = no.reshape(-1, 1, 1, 1, 1, 1)
    coeff_shape = {"rayleigh_block": (*x.shape[:-1], 1, 1, 1), "rayleigh_fast": (*x.shape, 1, 1)}
    h = {p: gen(torch.Size(s[:-2]).numel()).reshape(s) for p, s in coeff_shape.items()}
    fns = {"bare AWGN": lambda: awgn(x, no.reshape(-1, 1, 1, 1, 1))}
    for p, s in coeff_shape.items():
        fns[f"bare apply {p}"] = lambda p=p: app(x.unsqueeze(-1), h[p], no_b)
        fns[f"bare generate+apply {p}"] = lambda s=s: app(x.unsqueeze(-1), gen(torch.Size(s[:-2]).numel()).reshape(s),
                                                           no_b)
    for preset in ("awgn", "rayleigh_block", "rayleigh_fast"):
        ch = build_channel(load_channel_preset(preset), "cpu", "single")
        fns[f"monte_carlo {preset}"] = lambda ch=ch: monte_carlo(link, payload, ch, no, args.draws, receiver.measure)
        fns[f"former stage {preset}"] = lambda ch=ch: stage_via_call(link, payload, receiver, ch, no, args.draws)
    t = median_times(fns, args.repeats)
    for k in ("bare AWGN", *(k for k in t if k.startswith("bare ") and k != "bare AWGN")):
        print(f"{k:36s} {t[k] * 1e3:8.1f} ms")
    for preset in ("awgn", "rayleigh_block", "rayleigh_fast"):
        for form in ("monte_carlo", "former stage"):
            v = t[f"{form} {preset}"]
            ratio = f"{v / t['bare AWGN']:5.2f}x bare AWGN"
            if preset != "awgn":
                ratio += (f", {v / t[f'bare apply {preset}']:4.2f}x bare apply, "
                          f"{v / t[f'bare generate+apply {preset}']:4.2f}x bare generate+apply")
            print(f"{form + ' ' + preset:36s} {v * 1e3:8.1f} ms   {ratio}")

    # why the SISO equaliser is written in closed form (semcom_sim/channel/rayleigh.py)
    hb = h["rayleigh_block"]  # [..., V, 1, 1, 1]
    y = app(x.unsqueeze(-1), hb, no_b)
    s = no_b.unsqueeze(-1).to(y.dtype)
    t = median_times({"sionna": lambda: lmmse_equalizer(y, hb, s),
                      "closed": lambda: (y / hb[..., 0], no_b / hb[..., 0].abs().square())}, args.repeats)
    print(f"equaliser: Sionna lmmse_equalizer {t['sionna'] * 1e3:8.1f} ms, closed form {t['closed'] * 1e3:6.1f} ms "
          f"({t['sionna'] / t['closed']:.1f}x)")
    bench_ofdm(x[:, :1], no, args.repeats)  # one draw: the TDL generator's tensors are ~30x the symbols


def bench_ofdm(x: torch.Tensor, no: torch.Tensor, repeats: int) -> None:
    """tdl_c's chain (semcom_sim/channel/tdl.py) against bare OFDMChannel calls on the same slots."""
    ch = build_channel(load_channel_preset("tdl_c"), "cpu", "single")
    per_point = math.ceil(x[0].numel() / ch.data_per_slot)
    slots = x.shape[0] * per_point
    grid = ch._mapper(torch.zeros(slots, 1, 1, ch.data_per_slot, dtype=x.dtype))  # mapped slots, ready
    no_slot = no.repeat_interleave(per_point)
    bare = OFDMChannel(ch._tdl, ch._rg)
    step = ch._slots_per_pass

    def bare_passes():
        for i in range(0, slots, step):
            bare(grid[i:i + step], no_slot[i:i + step])

    t = median_times({"bare": lambda: bare(grid, no_slot), "bare passes": bare_passes,
                      "call": lambda: ch(x, no), "mmse": lambda: ch.mmse(x, no)}, repeats)
    n = x.numel()
    print(f"OFDM tdl_c: {n / 1e6:.2f} M symbols on {slots} slots of {ch.data_per_slot} data elements, "
          f"passes of {step} slots")
    for k, label in (("bare", "bare OFDMChannel, one call"), ("bare passes", "bare OFDMChannel, in passes"),
                     ("call", "tdl_c chain, __call__"), ("mmse", "tdl_c chain, mmse")):
        ratio = "" if k.startswith("bare") else (f"   {t[k] / t['bare']:4.2f}x bare one call, "
                                                 f"{t[k] / t['bare passes']:4.2f}x bare in passes")
        print(f"{label:36s} {t[k] * 1e3:8.1f} ms {t[k] / n * 1e9:7.1f} ns/symbol{ratio}")


if __name__ == "__main__":
    main()
