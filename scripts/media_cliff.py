"""The separation baseline's cliff over AWGN (issue 24, "Must show"; docs/guide/media.md), read off a
run's results.csv: per media scheme, the SNR from which top-1 stays at or above 95 % of its clean
value, the SNR up to which it stays within 5 points of what the receiver gets with every file lost,
the width between them, and the same upper SNR for the capacity reference.

Run: python scripts/media_cliff.py RUN/results.csv [--preset awgn]

The all-lost value is the top-1 at the lowest SNR of the grid, which must have lost every file
(file_loss 1: the script refuses otherwise); the grid's step bounds every SNR it prints.
"""
import argparse
import sys

from semcom_sim.report import read_results


def stays(points: list[tuple[float, float]], ok) -> float | None:
    """The lowest SNR from which ``ok(top-1)`` holds at every higher grid point (None: not even the last)."""
    out = None
    for snr, acc in sorted(points, reverse=True):
        if not ok(acc):
            break
        out = snr
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results")
    ap.add_argument("--preset", default="awgn")
    args = ap.parse_args()
    rows = read_results(args.results)
    print("| scheme | clean top-1 | all files lost | >= 95 % of clean from [dB] | within 5 points of all-lost up "
          "to [dB] | width [dB] | capacity reference >= 95 % from [dB] | above it [dB] |")
    print("|---|---|---|---|---|---|---|---|")
    for scheme in dict.fromkeys(r["scheme"] for r in rows if r["scheme"].startswith("media")):
        mine = [r for r in rows if r["scheme"] == scheme]
        clean = next(r["acc_top1"] for r in mine if r["channel"] == "none")
        at = sorted((r for r in mine if r["channel"] == args.preset), key=lambda r: r["snr_db"])
        if not at or at[0]["file_loss"] != 1.0:
            sys.exit(f"{args.results}: {scheme}'s lowest {args.preset} point has not lost every file "
                     f"(file_loss {at[0]['file_loss'] if at else 'absent'}): start the grid lower")
        lost = at[0]["acc_top1"]
        top = stays([(r["snr_db"], r["acc_top1"]) for r in at], lambda a: a >= 0.95 * clean)
        # the highest SNR up to which top-1 is within 5 points of all-lost at every lower point
        low = None
        for r in at:
            if r["acc_top1"] > lost + 0.05:
                break
            low = r["snr_db"]
        cap = stays([(r["snr_db"], r["acc_top1_capacity"]) for r in at], lambda a: a >= 0.95 * clean)

        def fmt(x):
            return "-" if x is None else f"{x:g}"

        width = None if top is None or low is None else top - low
        above = None if top is None or cap is None else top - cap
        print(f"| {scheme} | {clean:.3f} | {lost:.3f} | {fmt(top)} | {fmt(low)} | {fmt(width)} | {fmt(cap)} | "
              f"{fmt(above)} |")


if __name__ == "__main__":
    main()
