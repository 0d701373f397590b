"""Wall time of `semcom-sim run` from an empty cache and with the encoders cached.

Each measurement is a fresh process (imports included), as a user would see it.
Run: OMP_NUM_THREADS=2 python benchmarks/bench_run.py [scenario] [--repeats 3] [--device cpu]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_once(scenario: str, cache: Path, out: Path, device: str) -> tuple[float, dict]:
    env = {**os.environ, "SEMCOM_SIM_CACHE": str(cache)}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "semcom_sim.cli", "run", scenario, "--out", str(out), "--device", device],
                   env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    return wall, json.loads((out / "summary.json").read_text())["timings_s"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", nargs="?", default="scenarios/three_modality.yaml")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="semcom-bench-"))
    try:
        results = {"empty cache": [], "cached encoders": []}
        stages = {}
        for i in range(args.repeats):
            cache = tmp / f"cache{i}"
            for label in results:  # first call trains and fills the cache, second loads it
                wall, timings = run_once(args.scenario, cache, tmp / "out", args.device)
                results[label].append(wall)
                stages.setdefault(label, []).append(timings)
        print(f"{args.scenario} on {args.device}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
              f"{args.repeats} runs each")
        for label, walls in results.items():
            med = {k: statistics.median(t[k] for t in stages[label]) for k in stages[label][0]}
            parts = ", ".join(f"{k} {v:.1f}" for k, v in med.items())
            print(f"  {label:16s} median {statistics.median(walls):6.1f} s (all: "
                  f"{', '.join(f'{w:.1f}' for w in walls)}); stages: {parts}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
