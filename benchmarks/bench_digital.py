"""Cost of the whole digital link against Sionna's LDPC decoder alone on the same codewords.

The link is quantisation, 5G LDPC encoding, QAM mapping, the channel, APP demapping, BP decoding
and de-quantisation; BP decoding is the expensive step, so everything else should add < 1.3x.
Default batch: what a default scenario's centroid sweep produces (360 test instances, T = 64 values
at 4 bits -> k = 256, rate 1/2 -> n = 512, 16-QAM, 20 iterations, 3 SNR points, 1 draw).
Run: OMP_NUM_THREADS=2 python benchmarks/bench_digital.py [--smoke]
(--smoke: 8 instances, 2 SNR points, 5 BP iterations, 2 repeats; a few seconds, the same code path,
for CI rather than for the numbers.)
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from semcom_sim.channel import build_channel, snr_db_to_noise_var
from semcom_sim.scenario import load_channel_preset
from semcom_sim.runtime import Runtime
from semcom_sim.links.digital import Digital, DigitalOptions, detector_blocks, ldpc_encoder, mapper as qam_mapper

MAX_OVERHEAD = 1.3


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def paired_times(fns: dict, repeats: int) -> dict[str, list[float]]:
    """Runs the functions in turn, ``repeats`` rounds after a warm-up: on a shared machine, load
    swings then hit every function of a round alike, and per-round ratios stay meaningful."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(timed(fn))
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=360, help="test instances")
    ap.add_argument("--t", type=int, default=64, help="payload values per vector")
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--rate", type=float, default=0.5)
    ap.add_argument("--bits-per-symbol", type=int, default=4)
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--snr", type=float, nargs="+", default=[0.0, 5.0, 10.0])
    ap.add_argument("--draws", type=int, default=1)
    ap.add_argument("--preset", default="awgn")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: a quick check of the code path")
    args = ap.parse_args()
    if args.smoke:
        args.n, args.snr, args.iterations, args.repeats = 8, [0.0, 10.0], 5, 2
        print("smoke mode: tiny sizes, the code path only; the times and the budget verdict mean nothing")

    rt = Runtime.create(args.device, "float32", 0)
    g = torch.Generator().manual_seed(0)
    payload = torch.nn.functional.normalize(torch.randn(args.n, 1, args.t, generator=g), dim=-1).to(rt.device)
    link = Digital.fit(payload, DigitalOptions(bits=args.bits, code_rate=args.rate,
                                               bits_per_symbol=args.bits_per_symbol, ldpc_iterations=args.iterations))
    channel = build_channel(load_channel_preset(args.preset), rt.device, rt.sionna_precision)
    no = snr_db_to_noise_var(torch.tensor(args.snr, device=rt.device))
    rt.seed_sionna("bench")

    opts = {"precision": rt.sionna_precision, "device": str(rt.device)}
    encoder = ldpc_encoder(link.info_bits, link.coded_bits, link.bits_per_symbol, **opts)
    mapper = qam_mapper(link.bits_per_symbol, **opts)
    demapper, decoder = detector_blocks(link.info_bits, link.coded_bits, link.bits_per_symbol, link.ldpc_iterations,
                                        rt.sionna_precision, str(rt.device))

    def whole():  # the registered link as the Monte-Carlo loop calls it: encode, channel, decode, count
        _, counts = link.receive(channel, link.send(payload), no, args.draws)
        return link.error_rates(counts, args.draws, payload.shape)
    u = link.to_bits(link.quantize(payload)).to(payload.dtype)  # [N, 1, k]
    s = len(args.snr)

    def front():  # everything the link does before the decoder, with the link's own Sionna blocks
        x = mapper(encoder(link.to_bits(link.quantize(payload)).to(payload.dtype)))
        return demapper(*channel(x.expand(s, args.draws, *x.shape), no)).flatten(0, -2)

    llr = front()  # the decoder alone runs on the link's own LLRs of the same batch
    u_hat = decoder(llr).reshape(s, args.draws, *u.shape)

    def back():  # everything after it: error counts and de-quantisation
        wrong = u_hat != u
        return (wrong.sum((1, 2, 3, 4)), wrong.any(-1).sum((1, 2, 3)),
                link.dequantize(link.from_bits(u_hat), payload.dtype))

    codewords = llr.shape[0]
    info = codewords * link.info_bits
    print(f"k={link.info_bits} n={link.coded_bits} ({2 ** link.bits_per_symbol}-QAM, {link.channel_uses} uses), "
          f"{codewords} codewords = {info / 1e3:.0f} kbit per call, {args.iterations} BP iterations, "
          f"{args.preset}, {rt.device}, {torch.get_num_threads()} threads, median of {args.repeats}")

    times = paired_times({"decoder": lambda: decoder(llr),
                          "link": whole,
                          "front": front, "back": back}, args.repeats)
    med = {name: statistics.median(t) for name, t in times.items()}
    for name, label in [("decoder", "Sionna LDPC5GDecoder alone"), ("link", "digital link, whole chain")]:
        print(f"{label:30s} {med[name] * 1e3:9.1f} ms   {info / med[name] / 1e3:8.1f} kbit/s")
    print(f"{'  before the decoder':30s} {med['front'] * 1e3:9.1f} ms")
    print(f"{'  after the decoder':30s} {med['back'] * 1e3:9.1f} ms")
    measured = statistics.median(a / b for a, b in zip(times["link"], times["decoder"]))
    parts = 1 + (med["front"] + med["back"]) / med["decoder"]
    worst = max(measured, parts)
    print(f"overhead vs the decoder alone: {measured:.3f}x measured (median of per-round ratios), "
          f"{parts:.3f}x from the parts; {'within' if worst < MAX_OVERHEAD else 'ABOVE'} the {MAX_OVERHEAD}x budget")


if __name__ == "__main__":
    main()
