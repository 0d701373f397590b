"""Start-up time of the command line against a bare `import torch`.

Each measurement is a fresh process, as a user would see it: `python -c "import torch"`,
`semcom-sim --help`, `semcom-sim --version` and `semcom-sim validate scenarios/three_modality.yaml`.
The commands run in turn, round after round (after one untimed warm-up round), so load swings on a
shared machine hit them alike; each reports the median of its rounds.
Goals: --help and --version under 1 s (they need no torch), validate at most 1.5x a bare torch import.
A command that fails is reported with its exit status and output, and the script then exits 1;
a missed goal is reported but does not change the exit status (timings on a shared machine are noisy).
Run: OMP_NUM_THREADS=2 python benchmarks/bench_startup.py [--repeats 7] [--smoke]
"""
from __future__ import annotations

import argparse
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCENARIO = "scenarios/three_modality.yaml"
HELP_GOAL_S = 1.0
VALIDATE_GOAL_RATIO = 1.5


def cli_command() -> list[str]:
    """The console script installed next to this interpreter, else ``python -m semcom_sim.cli``."""
    script = shutil.which("semcom-sim", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "semcom_sim.cli"]


def run_once(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    return time.perf_counter() - t0, proc


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7, help="timed rounds (median reported)")
    ap.add_argument("--smoke", action="store_true", help="2 rounds: a quick check")
    args = ap.parse_args()
    if args.smoke:
        args.repeats = 2
        print("smoke mode: 2 rounds, the times are rough")

    cli = cli_command()
    commands = {
        "import torch": [sys.executable, "-c", "import torch"],
        "--help": cli + ["--help"],
        "--version": cli + ["--version"],
        "validate": cli + ["validate", SCENARIO],
    }
    print(f"CLI: {shlex.join(cli)}; {args.repeats} rounds after a warm-up, each command a fresh process")

    failed: dict[str, tuple[int, str]] = {}
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(args.repeats + 1):  # round 0 is the warm-up (file cache, .pyc files)
        for name, cmd in commands.items():
            if name in failed:
                continue
            wall, proc = run_once(cmd)
            if proc.returncode != 0:
                failed[name] = (proc.returncode, proc.stdout)
            elif round_ > 0:
                times[name].append(wall)

    med = {name: statistics.median(t) for name, t in times.items() if name not in failed}
    for name, cmd in commands.items():
        if name in failed:
            print(f"{name:14s}   FAILED (exit {failed[name][0]}): {shlex.join(cmd)}")
        else:
            print(f"{name:14s} {med[name]:6.2f} s median (all: {', '.join(f'{t:.2f}' for t in times[name])})")

    print("goals:")
    for name in ("--help", "--version"):
        if name in med:
            verdict = "met" if med[name] < HELP_GOAL_S else "MISSED"
            print(f"  {name:10s} < {HELP_GOAL_S:.0f} s: {med[name]:.2f} s, {verdict}")
        else:
            print(f"  {name:10s} < {HELP_GOAL_S:.0f} s: not measured (the command failed)")
    if "validate" in med and "import torch" in med:
        ratio = med["validate"] / med["import torch"]
        verdict = "met" if ratio <= VALIDATE_GOAL_RATIO else "MISSED"
        print(f"  validate <= {VALIDATE_GOAL_RATIO}x bare torch import: {ratio:.2f}x "
              f"({med['validate']:.2f} s / {med['import torch']:.2f} s), {verdict}")
    else:
        print(f"  validate <= {VALIDATE_GOAL_RATIO}x bare torch import: not measured (a command failed)")

    for name, (code, output) in failed.items():
        tail = "\n    ".join(output.strip().splitlines()[-15:]) or "(no output)"
        print(f"\n{name} FAILED with exit status {code}: {shlex.join(commands[name])}\n    {tail}")
    if failed:
        print(f"\n{len(failed)} command(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
