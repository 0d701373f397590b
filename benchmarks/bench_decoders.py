"""Wall time of `semcom-sim run` with a decoder per modality against the same run without decoders.

The scenario is scenarios/three_modality.yaml (or the one given) with
``receiver.reconstruction.decoders: {image: image_mlp, audio: logmel_mlp, text: caption_tokens}``
added, written to a temporary folder with its own cache. A first run trains the encoders into the
cache (not timed); then each repeat runs, in turn, each as a fresh process (imports included) so
that all see the same machine load: the scenario without decoders, with decoders fitted (their
cache entries, receiver/fit_cache.py, removed first: a first run), and with decoders loaded from
the cache. Printed: the medians of wall time and of the process's CPU time (user + system: the
steadier figure on a shared machine), every run, the ratios of the medians to the run without
decoders, and the median stage times from summary.json.
Run: OMP_NUM_THREADS=2 python benchmarks/bench_decoders.py [scenario] [--repeats 3] [--device cpu]
     python benchmarks/bench_decoders.py --smoke   (a tiny scenario, one run each: a few seconds of
     work, the same code path, for CI rather than for the numbers)
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import tempfile
from pathlib import Path

import yaml

from bench_run import SMOKE_SCENARIO as BENCH_RUN_SMOKE, run_once  # benchmarks/ is on the path

DECODERS = {"image": {"name": "image_mlp"}, "audio": {"name": "logmel_mlp"}, "text": {"name": "caption_tokens"}}

# bench_run's smoke scenario with a channel stage and decoder training: every decoder runs over it
SMOKE_SCENARIO = {
    **BENCH_RUN_SMOKE, "name": "bench_decoders_smoke",
    "transmitter": {"schemes": ["conventional", "centroid"], "rfs_keep": [1.0]},
    "channel": {"presets": ["awgn", "rayleigh_block"], "snr_db": [0.0, 10.0], "mc_draws": 2},
    "receiver": {"reconstruction": {"epochs": 2}},
}


def scenarios(base: dict, cache: Path) -> dict[str, dict]:
    """The base scenario without decoders and with one per modality, both on ``cache``."""
    plain = {**base, "device": base.get("device", "auto"), "data": {**base["data"], "cache_dir": str(cache)}}
    receiver = dict(plain.get("receiver") or {})
    recon = dict(receiver.get("reconstruction") or {})
    recon.pop("decoders", None)
    without = {**plain, "receiver": {**receiver, "reconstruction": recon}}
    with_dec = {**plain, "receiver": {**receiver, "reconstruction": {**recon, "decoders": DECODERS}}}
    return {"without decoders": without, "with decoders": with_dec}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", nargs="?", default="scenarios/three_modality.yaml")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--smoke", action="store_true", help="a tiny scenario, one run each: a quick check")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="semcom-bench-decoders-"))
    try:
        if args.smoke:
            base, args.scenario, args.repeats = SMOKE_SCENARIO, "smoke scenario", 1
            print("smoke mode: a tiny scenario, the code path only; the times mean nothing")
        else:
            base = yaml.safe_load(Path(args.scenario).read_text())
        paths = {}
        for label, raw in scenarios(base, tmp / "cache").items():
            paths[label] = tmp / (label.replace(" ", "_") + ".yaml")
            paths[label].write_text(yaml.safe_dump(raw, sort_keys=False))
        # the first run trains the encoders into the cache
        warm, _ = run_once(str(paths["without decoders"]), tmp / "cache", tmp / "out", args.device)
        print(f"{args.scenario} on {args.device}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; "
              f"encoders trained into the cache first ({warm:.1f} s), then {args.repeats} runs each, in turn")
        runs = {"without decoders": paths["without decoders"], "decoders fitted": paths["with decoders"],
                "decoders cached": paths["with decoders"]}
        walls: dict[str, list[float]] = {k: [] for k in runs}
        cpus: dict[str, list[float]] = {k: [] for k in runs}
        stages: dict[str, list[dict]] = {k: [] for k in runs}
        for _ in range(args.repeats):
            for label, path in runs.items():
                if label == "decoders fitted":
                    for folder in ("decoders", "heads"):
                        shutil.rmtree(tmp / "cache" / folder, ignore_errors=True)
                cpu0 = _children_cpu()
                wall, timings = run_once(str(path), tmp / "cache", tmp / "out", args.device)
                cpus[label].append(_children_cpu() - cpu0)
                walls[label].append(wall)
                stages[label].append(timings)
        for label, w in walls.items():
            med = {k: statistics.median(t[k] for t in stages[label]) for k in stages[label][0]}
            parts = ", ".join(f"{k} {v:.1f}" for k, v in med.items())
            print(f"  {label:16s} median {statistics.median(w):6.1f} s wall (all: {', '.join(f'{x:.1f}' for x in w)}), "
                  f"{statistics.median(cpus[label]):6.1f} s CPU; stages: {parts}")
        for label in ("decoders fitted", "decoders cached"):
            wall = statistics.median(walls[label]) / statistics.median(walls["without decoders"])
            cpu = statistics.median(cpus[label]) / statistics.median(cpus["without decoders"])
            print(f"  {label} / without decoders: {wall:.2f}x wall, {cpu:.2f}x CPU")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
