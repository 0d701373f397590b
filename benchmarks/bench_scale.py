"""How a run's cost grows with the data: the ``embeddings`` scenario at growing test sets.

For each N_test (training set 4 x N_test, as COCO-like splits have it), a generated embeddings file
(``scripts/make_embeddings_example.py``: D = 512, 100 classes by default) runs through
``scenarios/embeddings_example.yaml`` (2 presets x 7 SNR points x 20 draws x 3 RFS fractions, both
schemes, nothing trained). Each run is a fresh process with an empty cache of its own (so it fits
its heads, as a first run does); the figures are the median over
``--repeats`` runs of its wall time, of each stage's time (``summary.json``) and of its peak RSS,
with the cost ratio of each doubling of N_test.

Run: OMP_NUM_THREADS=2 python benchmarks/bench_scale.py [--sizes 2000 4000 8000 16000] [--repeats 3]
     python benchmarks/bench_scale.py --smoke   (two tiny sizes, one run each: the code path, for CI)
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parent.parent
TRAIN_PER_TEST = 4


def _maker():
    spec = importlib.util.spec_from_file_location("make_embeddings_example",
                                                  REPO / "scripts" / "make_embeddings_example.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_data(path: Path, n_test: int, dim: int, classes: int) -> None:
    """train 4 x n_test and test n_test instances, every class in both splits."""
    arrays = _maker().make(n_test * (TRAIN_PER_TEST + 1), dim, classes, seed=0)
    np.savez(path, **arrays)


def write_scenario(path: Path, data: Path, dim: int, smoke: bool) -> None:
    raw = yaml.safe_load((REPO / "scenarios" / "embeddings_example.yaml").read_text())
    raw["name"] = f"bench_scale_{path.stem}"
    raw["embedding_dim"] = dim
    raw["data"]["options"]["npz_path"] = str(data)
    # the budget estimate is an upper bound (N_test = 8,000 peaked at 2.97 GB against an estimate of
    # about 6 GiB): the larger sizes need the default 8 GiB limit raised; the peak RSS is measured
    raw["limits"] = {**(raw.get("limits") or {}), "memory_gib": 20.0}
    if smoke:
        raw["channel"] = {**raw["channel"], "snr_db": [0.0, 10.0], "mc_draws": 2}
        raw["transmitter"]["rfs_keep"] = [1.0]
    path.write_text(yaml.safe_dump(raw, sort_keys=False))


def run_once(scenario: Path, out: Path, cache: Path) -> tuple[float, dict, float]:
    """(wall s, stage times s, peak RSS GB) of one ``semcom-sim run`` in a fresh process."""
    env = {**os.environ, "SEMCOM_SIM_CACHE": str(cache)}
    cmd = [sys.executable, "-m", "semcom_sim.cli", "run", str(scenario), "--out", str(out), "--device", "cpu"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak, not the maximum over all children
    wall = time.perf_counter() - t0
    proc.returncode = code = os.waitstatus_to_exitcode(status)  # Popen's own bookkeeping: reaped here
    if code != 0:
        tail = "\n".join(output.splitlines()[-30:])
        sys.exit(f"FAILED (exit {code}): {' '.join(cmd)}\n{tail}")
    timings = json.loads((out / "summary.json").read_text())["timings_s"]
    return wall, timings, usage.ru_maxrss * 1024 / 1e9  # ru_maxrss is in KiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 4000, 8000, 16000], help="N_test values")
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--smoke", action="store_true", help="two tiny sizes, one run each: a quick check")
    args = ap.parse_args()
    if args.smoke:
        args.sizes, args.dim, args.classes, args.repeats = [40, 80], 32, 8, 1
        print("smoke mode: tiny sizes, the code path only; the times mean nothing")
    print(f"embeddings scenario, D = {args.dim}, {args.classes} classes, training set {TRAIN_PER_TEST} x N_test, "
          f"{os.environ.get('OMP_NUM_THREADS', 'unset')} OMP threads, median of {args.repeats}")
    previous = None
    with tempfile.TemporaryDirectory(prefix="semcom-bench-scale-") as tmp:
        tmp = Path(tmp)
        for n_test in args.sizes:
            data, scenario = tmp / f"n{n_test}.npz", tmp / f"n{n_test}.yaml"
            write_data(data, n_test, args.dim, args.classes)
            write_scenario(scenario, data, args.dim, args.smoke)
            # a cache of its own per run: every run fits its heads (a rerun would load them, fit cache)
            runs = [run_once(scenario, tmp / f"out{n_test}_{i}", tmp / f"cache{n_test}_{i}") for i in range(args.repeats)]
            wall, rss = statistics.median(r[0] for r in runs), statistics.median(r[2] for r in runs)
            stages = {k: statistics.median(r[1].get(k, 0.0) for r in runs) for k in runs[0][1]}
            ratio = f"  x{wall / previous[1]:.2f} over N_test {previous[0]}" if previous else ""
            shown = ", ".join(f"{k} {v:.1f} s" for k, v in stages.items() if k != "total" and v >= 0.05)
            print(f"N_test {n_test:>6}: {wall:7.1f} s wall, peak RSS {rss:.2f} GB{ratio}\n    {shown}", flush=True)
            previous = (n_test, wall)


if __name__ == "__main__":
    main()
