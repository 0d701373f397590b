"""The separation baseline's headline table (issue 24, "Must show"; docs/guide/media.md): per scheme,
channel uses per instance and the SNR at which top-1 reaches 90 % of its clean value over AWGN and
block Rayleigh, and the figure of top-1 against channel uses per instance at 10 dB.

Run: python scripts/media_headline.py scenarios/three_modality.yaml [--out DIR] [--reuse]
         [--without-media] [--set dotted.key=value ...]

It runs ``semcom-sim run SCENARIO`` with the schemes, links, channels and SNR grid below set by
``--set`` (one seed, the scenario's), then reads results.csv; ``--reuse`` reads DIR/results.csv of an
earlier run instead. ``--without-media`` runs the semantic schemes alone (the media rows read the
BLER tables of their files' code blocks: shipped for digits and numbers, elsewhere built on a first
run, about an hour each for the audio's long code blocks on a 2-core CPU, docs/guide/media.md);
further ``--set`` go to the run. The SNR is
per channel use (the scenario's ``snr_reference``); the SNR at 90 % is
interpolated linearly in dB between the grid points around the last upward crossing (empty: the
scheme never gets there on the grid).
"""
import argparse
import subprocess
import sys
from pathlib import Path

from semcom_sim.report import read_results

LOSSY = {  # a mid setting, and the most aggressive the codecs take on this data (see the guide)
    "media_jpeg50": "{image: {codec: jpeg, quality: 50}, audio: {codec: opus, bitrate_kbps: 16}, text: {codec: brotli}}",
    "media_webp20": "{image: {codec: webp, quality: 20}, audio: {codec: opus, bitrate_kbps: 8}, text: {codec: zstd}}",
}
SEMANTIC = "[conventional, centroid]"
SCHEMES = "[conventional, centroid, media, " + ", ".join(
    f"{{name: media, label: {label}, options: {opts}}}" for label, opts in LOSSY.items()) + "]"
SETS = ["transmitter.links=[analog, {name: nr, options: {mode: abstraction}}]",
        "transmitter.rfs_keep=[1.0]",
        "channel.presets=[awgn, rayleigh_block]",
        "channel.snr_db={start: -10, stop: 30, num: 41}"]
PRESETS = ("awgn", "rayleigh_block")
FIGURE_SNR_DB = 10.0


def snr_at(points: list[tuple[float, float]], target: float) -> float | None:
    """The SNR [dB] from which top-1 stays at or above ``target``: linear in dB between the last
    point below it and the next one; None where the highest point is below it."""
    points = sorted(points)
    if not points or points[-1][1] < target:
        return None
    below = [i for i, (_, acc) in enumerate(points) if acc < target]
    if not below:
        return points[0][0]
    (s0, a0), (s1, a1) = points[below[-1]], points[below[-1] + 1]
    return s0 + (target - a0) / (a1 - a0) * (s1 - s0)


def table(rows: list[dict]) -> list[dict]:
    out = []
    for scheme, link in dict.fromkeys((r["scheme"], r["link"]) for r in rows):
        mine = [r for r in rows if r["scheme"] == scheme and r["link"] == link and r["rfs_keep"] == 1.0]
        clean = next(r["acc_top1"] for r in mine if r["channel"] == "none")
        entry = {"scheme": scheme, "link": link, "channel_uses": mine[0]["channel_uses"], "clean": clean}
        for preset in PRESETS:
            at = [r for r in mine if r["channel"] == preset]
            entry[preset] = snr_at([(r["snr_db"], r["acc_top1"]) for r in at], 0.9 * clean)
            if scheme.startswith("media"):  # the same files by a capacity-achieving code
                entry[preset + "_capacity"] = snr_at([(r["snr_db"], r["acc_top1_capacity"]) for r in at], 0.9 * clean)
            entry[preset + "_at_10"] = next((r["acc_top1"] for r in at if r["snr_db"] == FIGURE_SNR_DB), None)
        out.append(entry)
    return out


def fmt(x) -> str:
    return "-" if x is None else f"{x:.1f}"


def figure(entries: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, axes = plt.subplots(1, len(PRESETS), figsize=(10, 4), sharey=True)
    for ax, preset in zip(axes, PRESETS):
        for e in entries:
            if e[preset + "_at_10"] is None:
                continue
            marker = "s" if e["scheme"].startswith("media") else ("o" if e["link"] == "analog" else "^")
            ax.scatter(e["channel_uses"], e[preset + "_at_10"], marker=marker)
            ax.annotate(f"{e['scheme']} ({e['link']})", (e["channel_uses"], e[preset + "_at_10"]), fontsize=7,
                        xytext=(4, 4), textcoords="offset points")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # decades only: labels overlap otherwise
        ax.set_xlabel("channel uses per instance")
        ax.set_title(f"{preset}, {FIGURE_SNR_DB:g} dB per channel use")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("top-1")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scenario")
    ap.add_argument("--out", type=Path, help="run folder (default: runs/media_headline_<scenario file>)")
    ap.add_argument("--reuse", action="store_true", help="read OUT/results.csv, do not run")
    ap.add_argument("--without-media", action="store_true", help="the semantic schemes alone")
    ap.add_argument("--set", action="append", default=[], help="a further override of the run")
    args = ap.parse_args()
    out = args.out or Path("runs") / f"media_headline_{Path(args.scenario).stem}"
    if not args.reuse:
        cmd = [sys.executable, "-m", "semcom_sim.cli", "run", args.scenario, "--out", str(out)]
        sets = [f"transmitter.schemes={SEMANTIC if args.without_media else SCHEMES}"] + SETS + args.set
        subprocess.run(cmd + [a for s in sets for a in ("--set", s)], check=True)
    entries = table(read_results(out / "results.csv"))
    print("| scheme | link | channel uses per instance | clean top-1 | SNR@90% AWGN [dB] | SNR@90% block Rayleigh [dB] |")
    print("|---|---|---|---|---|---|")
    for e in entries:
        cap = "" if "awgn_capacity" not in e else \
            f" (capacity: {fmt(e['awgn_capacity'])})"
        cap_r = "" if "rayleigh_block_capacity" not in e else f" (capacity: {fmt(e['rayleigh_block_capacity'])})"
        print(f"| {e['scheme']} | {e['link']} | {e['channel_uses']} | {e['clean']:.3f} | {fmt(e['awgn'])}{cap} | "
              f"{fmt(e['rayleigh_block'])}{cap_r} |")
    figure(entries, out / "top1_vs_channel_uses_10dB.png", Path(args.scenario).stem)
    print("figure:", out / "top1_vs_channel_uses_10dB.png")


if __name__ == "__main__":
    main()
