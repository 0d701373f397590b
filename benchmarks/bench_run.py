"""Wall time of `semcom-sim run` from an empty cache and with the encoders cached.

Each measurement is a fresh process (imports included), as a user would see it.
Run: OMP_NUM_THREADS=2 python benchmarks/bench_run.py [scenario] [--repeats 3] [--device cpu] [--empty-only]
     python benchmarks/bench_run.py --smoke   (a tiny scenario written to a temporary folder, one
     run each; a few seconds of work, the same code path, for CI rather than for the numbers)
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

import yaml

REPO = Path(__file__).resolve().parent.parent

# scenarios/tiny.yaml (the tests' scenario), cut further: the smoke run checks the code path of
# every stage, not numbers, so half the data, 2 epochs and one preset keep it to a few seconds
_TINY = yaml.safe_load((REPO / "scenarios" / "tiny.yaml").read_text())
SMOKE_SCENARIO = {
    **_TINY, "name": "bench_smoke",
    "data": {**_TINY["data"], "limit": 200},
    "training": {**_TINY["training"], "epochs": 2},
    "transmitter": {**_TINY["transmitter"], "rfs_keep": [1.0]},
    "channel": {"presets": ["awgn"], "snr_db": [0.0, 10.0], "mc_draws": 1},
}


def run_once(scenario: str, cache: Path, out: Path, device: str) -> tuple[float, dict]:
    env = {**os.environ, "SEMCOM_SIM_CACHE": str(cache)}
    cmd = [sys.executable, "-m", "semcom_sim.cli", "run", scenario, "--out", str(out), "--device", device]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-30:])
        sys.exit(f"FAILED (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")
    return wall, json.loads((out / "summary.json").read_text())["timings_s"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", nargs="?", default="scenarios/three_modality.yaml")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--smoke", action="store_true", help="a tiny scenario, one run each: a quick check")
    ap.add_argument("--empty-only", action="store_true", help="only the runs from an empty cache")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="semcom-bench-"))
    try:
        if args.smoke:
            args.scenario, args.repeats = str(tmp / "bench_smoke.yaml"), 1
            Path(args.scenario).write_text(yaml.safe_dump(SMOKE_SCENARIO, sort_keys=False))
            print("smoke mode: a tiny scenario, the code path only; the times mean nothing")
        results = {"empty cache": []} if args.empty_only else {"empty cache": [], "cached encoders": []}
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
