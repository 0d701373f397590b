"""Sweep executors: 40 tiny cells run by the local executor and by Ray with 1 and 2 workers.

Reports the medians of the wall times (a fresh `semcom-sim sweep` process each, Ray's start-up
included), the speed-up of 2 Ray workers over 1, and Ray's overhead per cell against the local
executor, ((Ray with 1 worker) - local) / cells. The same sweep of a single cell splits each wall
time into a fixed part (start-up, imports, Ray's start and its workers' imports, the combined
tables) and a marginal cost per cell, (T(cells) - T(1)) / (cells - 1): the part that grows with a
study. Every run starts from an empty encoder cache (the data cache is filled once beforehand, so
speech synthesis is not timed) and the three executors' cells.csv must be byte for byte the same.

Run: python benchmarks/bench_sweep.py [--cells 40] [--repeats 3]
     python benchmarks/bench_sweep.py --smoke   (4 cells, one run each: the code path, for CI)
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench_run import SMOKE_SCENARIO  # benchmarks/ is on the path when a benchmark runs as a script

# one cell: bench_run's smoke scenario (data, three encoders, both schemes) with 3 epochs, one SNR point
CELL = {**SMOKE_SCENARIO, "name": "bench_sweep",
        "training": {**SMOKE_SCENARIO["training"], "epochs": 3},
        "channel": {**SMOKE_SCENARIO["channel"], "snr_db": [10.0]}}
VARIANTS = {"local": [], "ray, 1 worker": ["--executor", "ray", "--max-parallel", "1"],
            "ray, 2 workers": ["--executor", "ray", "--max-parallel", "2"]}


def write_experiment(folder: Path, n_cells: int) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "base.yaml").write_text(yaml.safe_dump(CELL, sort_keys=False))
    temps = [0.05, 0.1, 0.2, 0.3, 0.5]
    seeds = list(range(-(-n_cells // len(temps))))
    exp = {"name": "bench_sweep", "base": "base.yaml",
           "grid": {"training.temperature": temps[:min(n_cells, len(temps))], "seed": seeds}}
    path = folder / "exp.yaml"
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    return path


def sweep(exp: Path, out: Path, cache: Path, extra: list[str]) -> float:
    cmd = [sys.executable, "-m", "semcom_sim.cli", "sweep", str(exp), "--out", str(out), "--cache", str(cache),
           *extra]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # a local Ray, never a cluster
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"FAILED (exit {proc.returncode}): {' '.join(cmd)}\n" + "\n".join(proc.stdout.splitlines()[-30:]))
    return wall


def fresh_cache(primed: Path, target: Path) -> Path:
    """The primed data cache, hard-linked, and no encoders: every run trains every cell."""
    shutil.copytree(primed / "data", target / "data", copy_function=os.link)
    return target


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    cells, repeats = (4, 1) if args.smoke else (args.cells, args.repeats)
    with tempfile.TemporaryDirectory(prefix="bench_sweep.") as tmp:
        tmp = Path(tmp)
        exp = write_experiment(tmp, cells)
        primed = tmp / "primed"
        sweep(exp, tmp / "prime", primed, [])  # fills the data cache; not timed
        one = write_experiment(tmp / "one", 1)
        times: dict[str, list[float]] = {v: [] for v in VARIANTS}
        single: dict[str, list[float]] = {v: [] for v in VARIANTS}
        outputs: dict[str, bytes] = {}
        for r in range(repeats):  # interleaved, so drifting load hits every variant alike
            for i, (name, extra) in enumerate(VARIANTS.items()):
                out = tmp / f"out{r}_{i}"
                times[name].append(sweep(exp, out, fresh_cache(primed, tmp / f"cache{r}_{i}"), extra))
                outputs[name] = (out / "cells.csv").read_bytes()
                single[name].append(sweep(one, tmp / f"one{r}_{i}", fresh_cache(primed, tmp / f"c1_{r}_{i}"), extra))
                print(f"  repeat {r + 1}, {name}: {times[name][-1]:.1f} s ({cells} cells), "
                      f"{single[name][-1]:.1f} s (1 cell)", flush=True)
        if len(set(outputs.values())) != 1:
            sys.exit("FAILED: the executors' cells.csv differ")
        med = {k: statistics.median(v) for k, v in times.items()}
        fixed = {k: statistics.median(v) for k, v in single.items()}
        marginal = {k: (med[k] - fixed[k]) / max(cells - 1, 1) for k in med}
        print(f"{cells} cells, {repeats} repeat(s), OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
              f"{os.cpu_count()} CPUs; medians (fresh process each, Ray's start-up included):")
        print(f"  {'':15s} {'sweep':>8s} {'1 cell':>8s} {'per further cell':>17s}")
        for name in med:
            print(f"  {name:15s} {med[name]:7.1f}s {fixed[name]:7.1f}s {marginal[name]:16.2f}s")
        print(f"speed-up, 2 Ray workers over 1: {med['ray, 1 worker'] / med['ray, 2 workers']:.2f}x for the sweep, "
              f"{marginal['ray, 1 worker'] / marginal['ray, 2 workers']:.2f}x per further cell")
        print(f"Ray's overhead against the local executor: "
              f"{(med['ray, 1 worker'] - med['local']) / cells:+.2f} s per cell over the sweep, "
              f"{marginal['ray, 1 worker'] - marginal['local']:+.2f} s per further cell, "
              f"{fixed['ray, 1 worker'] - fixed['local']:+.1f} s once (Ray's start, its workers' imports)")
        print("cells.csv identical across the executors: yes")

if __name__ == "__main__":
    main()
