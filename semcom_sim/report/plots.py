"""Figures drawn from results.csv alone, so any finished run can be re-plotted."""
from __future__ import annotations

import math
import zlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .results import NOISELESS, read_results  # noqa: E402

_STYLE = {"conventional": ("--", "s"), "centroid": ("-", "o"), "centroid_eq_rfs": ("-.", "^"),
          "centroid_eq_bits": (":", "v"), "centroid_eq_code_rate": ((0, (5, 1, 1, 1, 1, 1)), "D")}
_FALLBACK = [((0, (3, 1, 1, 1)), "P"), ((0, (1, 1)), "X"), ((0, (5, 2)), "*"), ((0, (2, 2, 6, 2)), "h")]


def link_style(label: str) -> object:
    """The line style of a link's curves: the registered link's own (``Link.line_style``) where the
    label is a link's name, else dotted."""
    from ..links import LINKS

    return LINKS[label].line_style if label in LINKS else ":"


def scheme_style(scheme: str) -> tuple[object, str]:
    """(line style, marker) of a scheme; a scheme no table here knows gets a fixed one of its own
    (chosen from its name, so it is the same in every figure)."""
    return _STYLE.get(scheme) or _FALLBACK[zlib.crc32(scheme.encode()) % len(_FALLBACK)]


def _channels(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(r["channel"] for r in rows if r["channel"] != NOISELESS))


_SNR_AXES = {"snr_db": "SNR = Es/N0 per channel use [dB]",
             "snr_instance_db": "E_inst/N0, energy per instance [dB]"}


def plot_accuracy_vs_snr(rows: list[dict], path: Path, metric: str = "acc_top1", x: str = "snr_db") -> None:
    """One panel per channel; thin lines: the capacity-achieving digital reference in the same
    channel uses (docs/method.md, section 'The physical limit': ideal code carrying b bits per
    value; outage for block fading). ``x``: snr_db (every scheme at the same energy per channel
    use) or snr_instance_db (the same energy per instance: a scheme with M times the channel uses
    sits 10 log10 M dB to the right)."""
    channels = _channels(rows)
    keeps = sorted({r["rfs_keep"] for r in rows}, reverse=True)
    colors = dict(zip(keeps, plt.cm.viridis([i / max(1, len(keeps) - 1) * 0.85 for i in range(len(keeps))])))
    fig, axes = plt.subplots(1, len(channels), figsize=(4.2 * len(channels), 3.6), sharey=True, squeeze=False)
    for ax, ch in zip(axes[0], channels):
        for scheme in dict.fromkeys(r["scheme"] for r in rows):
            for keep in keeps:
                sel = sorted((r for r in rows if r["channel"] == ch and r["scheme"] == scheme
                              and r["rfs_keep"] == keep), key=lambda r: r[x])
                if not sel:
                    continue
                tti = sel[0]["tti"]
                # a link that adapts its rate to the SNR has its own channel uses per point: their range
                uses = sorted({r["channel_uses"] for r in sel})
                ax.plot([r[x] for r in sel], [r[metric] for r in sel], ls=scheme_style(scheme)[0],
                        color=colors[keep], marker="o", ms=3,
                        label=f"{scheme}, keep {keep:g} (TTI {tti}, {'-'.join(str(u) for u in uses[::max(1, len(uses) - 1)])} uses)")
                if metric == "acc_top1" and sel[0].get("acc_top1_capacity") != "":
                    ax.plot([r[x] for r in sel], [r["acc_top1_capacity"] for r in sel], ls=scheme_style(scheme)[0],
                            color=colors[keep], lw=0.8, alpha=0.45)
        ax.set_title(ch)
        ax.set_xlabel(_SNR_AXES.get(x, x))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(metric.replace("acc_", "accuracy ").replace("top", "top-"))
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_accuracy_vs_bandwidth(rows: list[dict], path: Path, x: str = "tti", snrs_db=(0.0, 10.0, 20.0),
                               metric: str = "acc_top1") -> None:
    """Bandwidth (``x``: tti or channel_uses) against accuracy: noiseless, and on each channel at the
    SNR points nearest ``snrs_db``; one marker per scheme, one line style per link (``link_style``)."""
    channels = _channels(rows)
    fig, axes = plt.subplots(1, len(channels), figsize=(4.2 * len(channels), 3.6), sharey=True, squeeze=False)
    available = sorted({r["snr_db"] for r in rows if math.isfinite(r["snr_db"])})
    picked = list(dict.fromkeys(min(available, key=lambda s: abs(s - t)) for t in snrs_db)) if available else []
    # one colour per picked SNR, however many were asked for
    shades = plt.cm.plasma([0.1 + 0.75 * i / max(1, len(picked) - 1) for i in range(len(picked))])
    schemes = list(dict.fromkeys(r["scheme"] for r in rows))
    links = list(dict.fromkeys(r["link"] for r in rows))
    for ax, ch in zip(axes[0], channels):
        for scheme in schemes:
            for link in links:
                for snr, shade in [(math.inf, "black")] + list(zip(picked, shades)):
                    src = NOISELESS if math.isinf(snr) else ch
                    sel = sorted((r for r in rows if r["channel"] == src and r["scheme"] == scheme
                                  and r["link"] == link and r["snr_db"] == snr), key=lambda r: r[x])
                    if sel:
                        ax.plot([r[x] for r in sel], [r[metric] for r in sel], marker=scheme_style(scheme)[1],
                                ls=link_style(link), color=shade, ms=4,
                                label=f"{scheme}, {link}, {'noiseless' if math.isinf(snr) else f'{snr:g} dB'}")
        ax.set_xscale("log")
        ax.set_title(ch)
        ax.set_xlabel("TTI (real values sent per instance)" if x == "tti" else "channel uses per instance")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel(metric.replace("acc_", "accuracy ").replace("top", "top-"))
    axes[0][-1].legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_run(out_dir: Path) -> list[Path]:
    """accuracy_vs_snr_<link>.png (same energy per channel use) and accuracy_vs_snr_instance_<link>.png
    (same energy per instance) per link, accuracy_vs_tti.png and accuracy_vs_channel_uses.png."""
    rows = read_results(out_dir / "results.csv")
    paths = []
    for link in dict.fromkeys(r["link"] for r in rows):
        for x, name in (("snr_db", "snr"), ("snr_instance_db", "snr_instance")):
            paths.append(out_dir / f"accuracy_vs_{name}_{link}.png")
            plot_accuracy_vs_snr([r for r in rows if r["link"] == link], paths[-1], x=x)
    for x in ("tti", "channel_uses"):
        paths.append(out_dir / f"accuracy_vs_{x}.png")
        plot_accuracy_vs_bandwidth(rows, paths[-1], x)
    return paths
