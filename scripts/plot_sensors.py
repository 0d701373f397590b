"""The figures and table of docs/guide/aircomp.md from runs of scenarios/sensors.yaml.

    python scripts/plot_sensors.py DATASET=RUN_FOLDER [DATASET=RUN_FOLDER ...] --out docs/figures

writes sensors_accuracy_vs_snr.png (top-1 against the per-device SNR, one panel per data set and
channel), sensors_accuracy_vs_channel_uses.png (top-1 against channel uses per instance at
--snr-db, over the RFS fractions of the runs) and prints a Markdown table of the per-device SNR at
which each system reaches 90 % of its clean top-1 and the instance energy E_inst/N0 there (linear
interpolation between SNR points; "<=" where the sweep's lowest point already reaches it).
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from semcom_sim.report import read_results  # noqa: E402

# (scheme, link label) -> the name the guide gives it
SYSTEMS = {("conventional", "analog"): "(a) conventional / analog",
           ("receiver_centroid", "analog"): "(b) receiver_centroid / analog",
           ("receiver_centroid", "aircomp"): "(c) receiver_centroid / aircomp",
           ("receiver_centroid", "aircomp_est"): "(c') receiver_centroid / aircomp, estimated CSI",
           ("centroid", "analog"): "(d) centroid / analog (fusion node)"}
STYLE = {"(a)": ("tab:blue", "-"), "(b)": ("tab:orange", "--"), "(c)": ("tab:green", "-"),
         "(c')": ("tab:green", ":"), "(d)": ("tab:gray", "-.")}


def _style(name: str) -> dict:
    color, ls = STYLE[name.split()[0]]
    return {"color": color, "linestyle": ls, "marker": "o", "markersize": 3}


def snr_at_fraction(curve: list[tuple[float, float]], target: float) -> float | None:
    """First SNR (linear interpolation) where the curve [(snr, acc)], sorted by SNR, reaches target;
    None where it never does."""
    if curve and curve[0][1] >= target:
        return curve[0][0]
    for (s0, a0), (s1, a1) in zip(curve, curve[1:]):
        if a1 >= target:
            return s0 + (target - a0) * (s1 - s0) / (a1 - a0)
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="DATASET=RUN_FOLDER (a run of scenarios/sensors.yaml)")
    ap.add_argument("--out", type=Path, default=Path("docs/figures"))
    ap.add_argument("--snr-db", type=float, default=0.0, help="SNR of the channel-uses figure")
    args = ap.parse_args()
    runs = {k: read_results(Path(v) / "results.csv") for k, v in (r.split("=", 1) for r in args.runs)}
    channels = [c for c in dict.fromkeys(r["channel"] for rows in runs.values() for r in rows) if c != "none"]
    keep = max(r["rfs_keep"] for rows in runs.values() for r in rows)

    fig, axes = plt.subplots(len(runs), len(channels), figsize=(5 * len(channels), 3.6 * len(runs)), squeeze=False)
    table = []
    for i, (data, rows) in enumerate(runs.items()):
        for j, ch in enumerate(channels):
            ax = axes[i][j]
            for (scheme, link), name in SYSTEMS.items():
                sel = sorted((r["snr_db"], r["acc_top1"]) for r in rows if r["scheme"] == scheme and r["link"] == link
                             and r["channel"] == ch and r["rfs_keep"] == keep)
                clean = [r["acc_top1"] for r in rows if r["scheme"] == scheme and r["link"] == link
                         and r["channel"] == "none" and r["rfs_keep"] == keep]
                if not sel:
                    continue
                ax.plot(*zip(*sel), label=name, **_style(name))
                at = snr_at_fraction(sel, 0.9 * clean[0])
                first = next(r for r in rows if r["scheme"] == scheme and r["link"] == link and r["channel"] == ch
                             and r["rfs_keep"] == keep)
                offset = first["snr_instance_db"] - first["snr_db"]  # 10 log10(devices x uses per device)
                table.append((data, ch, name, first["channel_uses"], clean[0], at, sel[0][0], offset))
            ax.set_title(f"{data}, {ch}, rfs_keep {keep:g}")
            ax.set_xlabel("SNR per device (dB): transmit energy per channel use / N0")
            ax.set_ylabel("top-1")
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out / "sensors_accuracy_vs_snr.png", dpi=120)

    fig, axes = plt.subplots(len(runs), len(channels), figsize=(5 * len(channels), 3.6 * len(runs)), squeeze=False)
    for i, (data, rows) in enumerate(runs.items()):
        for j, ch in enumerate(channels):
            ax = axes[i][j]
            for (scheme, link), name in SYSTEMS.items():
                sel = sorted((r["channel_uses"], r["acc_top1"]) for r in rows if r["scheme"] == scheme
                             and r["link"] == link and r["channel"] == ch and math.isclose(r["snr_db"], args.snr_db))
                if sel:
                    ax.plot(*zip(*sel), label=name, **_style(name))
            ax.set_xscale("log", base=2)
            ax.set_title(f"{data}, {ch}, {args.snr_db:g} dB per device")
            ax.set_xlabel("channel uses per instance (RFS fractions)")
            ax.set_ylabel("top-1")
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out / "sensors_accuracy_vs_channel_uses.png", dpi=120)

    print("| data | channel | system | channel uses | clean top-1 | 90 % of clean at SNR per device (dB) "
          "| at E_inst/N0 (dB) |")
    print("|---|---|---|---|---|---|---|")
    for data, ch, name, uses, clean, at, low, offset in table:
        if at is None:
            shown = inst = "not reached"
        elif at <= low:  # already at the sweep's lowest point
            shown, inst = f"<= {low:g}", f"<= {low + offset:.1f}"
        else:
            shown, inst = f"{at:.1f}", f"{at + offset:.1f}"
        print(f"| {data} | {ch} | {name} | {uses} | {clean:.3f} | {shown} | {inst} |")


if __name__ == "__main__":
    main()
