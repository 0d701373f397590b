"""Cost of the channel-plus-receiver stage against a bare Sionna AWGN call on the same symbols.

The stage is what the sweep runs per (scheme, RFS fraction, channel): power normalisation and
mapping to symbols, the channel, equalisation, unmapping and the classification head with its
top-1/top-5 accuracy. Run: OMP_NUM_THREADS=2 python benchmarks/bench_channel.py [--smoke]
(--smoke: tiny sizes, a few seconds, the same code path; for CI, not for the numbers.)
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from sionna.phy.channel import AWGN, ApplyFlatFadingChannel, GenerateFlatFadingChannel
from sionna.phy.mimo import lmmse_equalizer

from semcom_sim.channel import build_channel, snr_db_to_noise_var
from semcom_sim.config import load_channel_preset
from semcom_sim.pipeline import sweep_channel
from semcom_sim.receiver import LinearHead
from semcom_sim.receiver.receiver import Receiver
from semcom_sim.runtime import Runtime
from semcom_sim.transmitter import AnalogLink


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


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

    rt = Runtime.create("cpu", "float32", 0)
    g = torch.Generator().manual_seed(0)
    snr_db = tuple(float(s) for s in range(-10, 21, 3))  # 11 points
    payload = torch.nn.functional.normalize(torch.randn(args.n, 3, 64, generator=g), dim=-1)  # conventional
    labels = torch.randint(0, 10, (args.n,), generator=g)
    receiver = Receiver(LinearHead(torch.randn(10, 3 * 64, generator=g), torch.zeros(10)), labels)
    link = AnalogLink.fit(payload)
    x = link.modulate(payload).expand(len(snr_db), args.draws, *link.modulate(payload).shape)
    no = snr_db_to_noise_var(torch.tensor(snr_db))
    symbols = x.numel()
    print(f"{symbols / 1e6:.2f} M channel symbols per call, {torch.get_num_threads()} threads, "
          f"median of {args.repeats}")

    bare = AWGN()
    t_bare = median_time(lambda: bare(x, no.reshape(-1, 1, 1, 1, 1)), args.repeats)
    print(f"bare Sionna AWGN                    {t_bare * 1e3:8.1f} ms")
    gen, app = GenerateFlatFadingChannel(1, 1), ApplyFlatFadingChannel()
    no_b = no.reshape(-1, 1, 1, 1, 1, 1)
    t_fast = median_time(lambda: app(x.unsqueeze(-1), gen(x.numel()).reshape(*x.shape, 1, 1), no_b), args.repeats)
    print(f"bare Sionna flat fading, fast       {t_fast * 1e3:8.1f} ms")
    for preset in ("awgn", "rayleigh_block", "rayleigh_fast"):
        ch = build_channel(load_channel_preset(preset), "cpu", "single")
        t = median_time(lambda: sweep_channel(link, payload, receiver, ch, snr_db, args.draws, rt), args.repeats)
        extra = f", {t / t_fast:4.2f}x bare fast fading" if preset == "rayleigh_fast" else ""
        print(f"stage over {preset:15s}          {t * 1e3:8.1f} ms   {t / t_bare:5.2f}x bare AWGN{extra}")

    # why the SISO equaliser is written in closed form (semcom_sim/channel/rayleigh.py)
    h = gen(x.shape[:-1].numel()).reshape(*x.shape[:-1], 1, 1, 1)
    y = app(x.unsqueeze(-1), h, no_b)
    s = no_b.unsqueeze(-1).to(y.dtype)
    t_sionna = median_time(lambda: lmmse_equalizer(y, h, s), args.repeats)
    t_closed = median_time(lambda: (y / h[..., 0], no_b / h[..., 0].abs().square()), args.repeats)
    print(f"equaliser: Sionna lmmse_equalizer {t_sionna * 1e3:8.1f} ms, closed form {t_closed * 1e3:6.1f} ms "
          f"({t_sionna / t_closed:.1f}x)")


if __name__ == "__main__":
    main()
