"""How retrieval's cost grows with the test set under ``receiver.retrieval_queries``.

``identification`` of a few received SNR x draw slices (V x T = 3 x 512) against the full gallery,
at growing N_test with Q sampled queries (every instance where N_test <= Q): the median of
``--repeats`` timings per size and the ratio of each doubling; then, at the largest size, the latent
summary's quadratic measures (cross-modal retrieval of one pair, uniformity of one modality) sampled
vs exhaustive, with both values.

Run: OMP_NUM_THREADS=2 python benchmarks/bench_retrieval.py [--sizes 2000 4000 8000 16000] [--queries 4000]
     python benchmarks/bench_retrieval.py --smoke   (tiny sizes: the code path only)
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from semcom_sim.latent import uniformity
from semcom_sim.receiver.retrieval import cross_modal_recall, identification, query_sample, unit_rows


def timed(f, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 4000, 8000, 16000], help="N_test values")
    ap.add_argument("--queries", type=int, default=4000, help="Q, receiver.retrieval_queries")
    ap.add_argument("--slices", type=int, default=4, help="SNR x draw slices per call")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    if args.smoke:
        args.sizes, args.queries, args.slices, args.repeats = [100, 200], 150, 2, 1
    g = torch.Generator().manual_seed(0)
    previous = None
    for n in args.sizes:
        clean = torch.randn(n, 3, 512, generator=g)
        received = clean + 1.5 * torch.randn(args.slices, n, 3, 512, generator=g)
        gallery, queries = unit_rows(clean.flatten(1)), query_sample(n, args.queries, np.random.default_rng(0))
        wall, _ = timed(lambda: identification(received, gallery, queries), args.repeats)
        ratio = f"  x{wall / previous:.2f}" if previous else ""
        print(f"identification, N_test {n:>6}, Q {n if queries is None else args.queries}: {wall:.2f} s{ratio}", flush=True)
        previous = wall
    n = args.sizes[-1]
    z = torch.randn(n, 512, generator=g)
    za, zb = unit_rows(z), unit_rows(z + 5.0 * torch.randn(n, 512, generator=g))
    queries = query_sample(n, args.queries, np.random.default_rng(0))
    for name, f in [("cross-modal retrieval", lambda q: cross_modal_recall(za, zb, queries=q)),
                    ("uniformity", lambda q: uniformity(za, rows=q))]:
        t_all, exact = timed(lambda: f(None), 1)
        t_q, sampled = timed(lambda: f(queries), 1)
        print(f"{name} at N {n}: exhaustive {t_all:.2f} s {exact}, Q {args.queries}: {t_q:.2f} s {sampled}", flush=True)


if __name__ == "__main__":
    main()
