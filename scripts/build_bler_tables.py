"""Build the nr link's AWGN BLER tables ahead of the runs that read them, e.g. on a GPU, for the
package to ship (``semcom_sim/links/nr_tables/``, read before the cache: see
``nr_abstraction.bler_table``).

Run: python scripts/build_bler_tables.py [--device cuda] [--jobs J] [--into DIR | --jsonl FILE]
         QM,CB_SIZE,CODED_BITS,ITERATIONS ...

Each table is ``nr_abstraction.simulate_table``: the same recipe, draws and file name as a run's
cache entry (the draws come from the CPU generator whatever the device; the chain runs on
``--device``). The codes a run reads are the list ``scripts/stubbed_tables_run.py`` prints on exit.
Tables are built J at a time, each in its own process; each is written whole as it is done, to
DIR/<key>.json (default: the package's shipped tables; a table already there is left as it is)
or appended as one JSON line {"key": ..., "value": ...} to FILE, with the seconds it took.
"""
import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from semcom_sim.links import nr_abstraction as tables


def build(code: tuple[int, int, int, int], device: str, threads: int) -> tuple[str, dict, float]:
    torch.set_num_threads(threads)
    start = time.perf_counter()
    value = tables.simulate_table(*code, device=device)
    return tables.table_key(*code), value, time.perf_counter() - start


def code_of(text: str) -> tuple[int, int, int, int]:
    try:
        qm, k, n, it = (int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected QM,CB_SIZE,CODED_BITS,ITERATIONS (four integers)")
    if not (qm in (1, 2, 4, 6, 8, 10) and 0 < k < n and it > 0):
        raise argparse.ArgumentTypeError(f"{text!r}: Qm in 1, 2, 4, 6, 8, 10 and 0 < CB_SIZE < CODED_BITS")
    return qm, k, n, it


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("codes", nargs="+", type=code_of)
    ap.add_argument("--device", default="cpu", help="where the chain runs (the draws are the CPU's)")
    ap.add_argument("--jobs", type=int, default=1, help="tables built at once, one process each")
    ap.add_argument("--into", type=Path, default=tables.SHIPPED_TABLES)
    ap.add_argument("--jsonl", type=Path, help="append each table to this file instead")
    args = ap.parse_args()
    todo = [c for c in dict.fromkeys(args.codes)
            if args.jsonl or not (args.into / f"{tables.table_key(*c)}.json").exists()]
    threads = max(1, (os.cpu_count() or 1) // max(1, args.jobs))
    ctx = multiprocessing.get_context("spawn")  # CUDA cannot be forked
    with ctx.Pool(max(1, args.jobs)) as pool:
        for key, value, seconds in pool.imap_unordered(_build_star, [(c, args.device, threads) for c in todo]):
            text = json.dumps(value)
            if args.jsonl:
                with open(args.jsonl, "a") as f:
                    f.write(json.dumps({"key": key, "value": value, "seconds": seconds}) + "\n")
            else:
                args.into.mkdir(parents=True, exist_ok=True)
                with tempfile.NamedTemporaryFile("w", dir=args.into, suffix=".tmp", delete=False) as f:
                    try:
                        f.write(text)
                    except BaseException:
                        os.unlink(f.name)
                        raise
                os.replace(f.name, args.into / f"{key}.json")
            print(f"{key}: {seconds:.1f} s, BLER {value['bler'][0]:.3f} at {value['snr_db'][0]:.2f} dB to "
                  f"{value['bler'][-1]:.3f} at {value['snr_db'][-1]:.2f} dB", flush=True)
    print(f"{len(todo)} built, {len(args.codes) - len(todo)} already there", file=sys.stderr)


def _build_star(job):
    return build(*job)


if __name__ == "__main__":
    main()
