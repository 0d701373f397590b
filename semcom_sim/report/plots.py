"""Figures drawn from results.csv alone, so any finished run can be re-plotted."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .results import NOISELESS, read_results  # noqa: E402

_STYLE = {"conventional": "--", "centroid": "-"}


def _channels(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(r["channel"] for r in rows if r["channel"] != NOISELESS))


def plot_accuracy_vs_snr(rows: list[dict], path: Path, metric: str = "acc_top1") -> None:
    channels = _channels(rows)
    keeps = sorted({r["rfs_keep"] for r in rows}, reverse=True)
    colors = dict(zip(keeps, plt.cm.viridis([i / max(1, len(keeps) - 1) * 0.85 for i in range(len(keeps))])))
    fig, axes = plt.subplots(1, len(channels), figsize=(4.2 * len(channels), 3.6), sharey=True, squeeze=False)
    for ax, ch in zip(axes[0], channels):
        for scheme in _STYLE:
            for keep in keeps:
                sel = sorted((r for r in rows if r["channel"] == ch and r["scheme"] == scheme
                              and r["rfs_keep"] == keep), key=lambda r: r["snr_db"])
                if not sel:
                    continue
                tti = sel[0]["tti"]
                ax.plot([r["snr_db"] for r in sel], [r[metric] for r in sel], _STYLE[scheme],
                        color=colors[keep], marker="o", ms=3,
                        label=f"{scheme}, keep {keep:g} (TTI {tti})")
        ax.set_title(ch)
        ax.set_xlabel("SNR = Es/N0 [dB]")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(metric.replace("acc_", "accuracy ").replace("top", "top-"))
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_accuracy_vs_tti(rows: list[dict], path: Path, snrs_db=(0.0, 10.0, 20.0), metric: str = "acc_top1") -> None:
    """Bandwidth against accuracy: noiseless, and on each channel at the SNR points nearest ``snrs_db``."""
    channels = _channels(rows)
    fig, axes = plt.subplots(1, len(channels), figsize=(4.2 * len(channels), 3.6), sharey=True, squeeze=False)
    available = sorted({r["snr_db"] for r in rows if math.isfinite(r["snr_db"])})
    picked = list(dict.fromkeys(min(available, key=lambda s: abs(s - t)) for t in snrs_db)) if available else []
    for ax, ch in zip(axes[0], channels):
        for scheme, marker in (("conventional", "s"), ("centroid", "o")):
            for snr, shade in [(math.inf, "black")] + list(zip(picked, ("tab:red", "tab:orange", "tab:blue"))):
                src = NOISELESS if math.isinf(snr) else ch
                sel = sorted((r for r in rows if r["channel"] == src and r["scheme"] == scheme
                              and r["snr_db"] == snr), key=lambda r: r["tti"])
                if sel:
                    ax.plot([r["tti"] for r in sel], [r[metric] for r in sel], marker=marker,
                            ls=_STYLE[scheme], color=shade,
                            label=f"{scheme}, {'noiseless' if math.isinf(snr) else f'{snr:g} dB'}")
        ax.set_xscale("log")
        ax.set_title(ch)
        ax.set_xlabel("TTI (real values sent per instance)")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel(metric.replace("acc_", "accuracy ").replace("top", "top-"))
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_run(out_dir: Path) -> list[Path]:
    rows = read_results(out_dir / "results.csv")
    paths = [out_dir / "accuracy_vs_snr.png", out_dir / "accuracy_vs_tti.png"]
    plot_accuracy_vs_snr(rows, paths[0])
    plot_accuracy_vs_tti(rows, paths[1])
    return paths
