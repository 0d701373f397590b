"""Comparison plots of a sweep, drawn from its cells.csv / results.csv and the cells' files."""
from __future__ import annotations

import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .latent_plot import plot_latent_pca  # noqa: E402
from .plots import scheme_style  # noqa: E402
from .results import NOISELESS, read_results  # noqa: E402

_MEASURES = (("gap_mean", "mean modality gap"), ("fisher_ratio", "Fisher ratio"),
             ("components_90pct", "PCA components for 90% variance"))


def _num(v: str) -> float | None:
    try:
        return float(v)
    except ValueError:
        return None


def _axes(keys: list[str], rows: list[dict]) -> tuple[str | None, list[str]]:
    """The x key (first numeric grid key other than the seed) and the keys that split lines."""
    x = next((k for k in keys if k != "seed" and all(_num(r[k]) is not None for r in rows)), None)
    return x, [k for k in keys if k not in (x, "seed")]


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def plot_latent_measures(rows: list[dict], x: str, groups: list[str], path: Path) -> None:
    """``rows`` as :func:`plot_sweep` reads cells.csv: grid columns strings, measures numbers."""
    # an empty cell is a measure that does not apply (no Fisher ratio for multi-label data)
    measures = [(c, label) for c, label in _MEASURES if all(r.get(c, "") != "" for r in rows)]
    fig, axes = plt.subplots(1, len(measures), figsize=(4.2 * len(measures), 3.4), squeeze=False)
    axes = axes[0]
    for ax, (col, label) in zip(axes, measures):
        for g in sorted({tuple(r[k] for k in groups) for r in rows}):
            sel = [r for r in rows if tuple(r[k] for k in groups) == g]
            xs = sorted({float(r[x]) for r in sel})
            stats = [_mean_std([float(r[col]) for r in sel if float(r[x]) == v]) for v in xs]
            mean, std = [m for m, _ in stats], [s for _, s in stats]
            name = ", ".join(f"{k}={v}" for k, v in zip(groups, g)) or None
            ax.errorbar(xs, mean, yerr=std, marker="o", ms=4, capsize=3, label=name)
        ax.set_xlabel(x)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    if groups:
        axes[0].legend(fontsize=7)
    n_seeds = max(sum(1 for r in rows if r[x] == v) for v in {r[x] for r in rows})
    fig.suptitle(f"mean ± std over {n_seeds} run(s) per point" if n_seeds > 1 else "", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_accuracy_vs_rfs(results: list[dict], x: str | None, groups: list[str], path: Path) -> None:
    """Noiseless top-1 accuracy against RFS keep fraction and against TTI, every scheme, per x value;
    the TTI panel shows the centroid vs the concatenation at equal and at M-times bandwidth."""
    rows = [r for r in results if r["channel"] == NOISELESS]
    split = ([x] if x else []) + groups
    fig, (ax_keep, ax_tti) = plt.subplots(1, 2, figsize=(10, 3.8))
    for gi, g in enumerate(sorted({tuple(r[k] for k in split) for r in rows}, key=lambda t: [_num(v) or 0 for v in t])):
        color = plt.cm.viridis(gi / max(1, len({tuple(r[k] for k in split) for r in rows}) - 1) * 0.9)
        for scheme in dict.fromkeys(r["scheme"] for r in rows):
            ls, marker = scheme_style(scheme)
            sel = [r for r in rows if r["scheme"] == scheme and tuple(r[k] for k in split) == g]
            if not sel:
                continue
            by_keep = sorted({float(r["rfs_keep"]) for r in sel})
            # over the seeds (or any grid key that does not split lines): mean, and ± std as a band
            stats = [_mean_std([float(r["acc_top1"]) for r in sel if float(r["rfs_keep"]) == k]) for k in by_keep]
            acc, std = [m for m, _ in stats], [sd for _, sd in stats]
            tti = [statistics.fmean(float(r["tti"]) for r in sel if float(r["rfs_keep"]) == k) for k in by_keep]
            label = f"{scheme}, " + ", ".join(f"{k}={v}" for k, v in zip(split, g)) if split else scheme
            for ax, xs in ((ax_keep, by_keep), (ax_tti, tti)):
                ax.plot(xs, acc, ls=ls, marker=marker, ms=3, color=color, label=label if ax is ax_keep else None)
                if any(std):
                    ax.fill_between(xs, [a - d for a, d in zip(acc, std)], [a + d for a, d in zip(acc, std)],
                                    color=color, alpha=0.12, lw=0)
    ax_keep.set_xscale("log")
    ax_keep.set_xlabel("RFS keep fraction")
    ax_tti.set_xscale("log")
    ax_tti.set_xlabel("TTI (values sent per instance)")
    for ax in (ax_keep, ax_tti):
        ax.set_ylabel("noiseless top-1 accuracy")
        ax.grid(alpha=0.3, which="both")
    ax_keep.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_sweep(out: Path, keys: list[str], pca_cells: bool, cell_names: list[str]) -> None:
    # the grid columns stay as written: they label lines and pick the x axis by their text
    cells = read_results(out / "cells.csv", text=keys)
    x, groups = _axes(keys, cells)
    if x:
        plot_latent_measures(cells, x, groups, out / "latent_measures.png")
    plot_accuracy_vs_rfs(read_results(out / "results.csv", text=keys), x, groups, out / "accuracy_vs_rfs.png")
    if pca_cells:
        # a panel's title is the readable part of the cell's folder name, without its hash
        plot_latent_pca([(name.rsplit("-", 1)[0], out / "cells" / name / "embeddings_test.npz") for name in cell_names],
                        out / "latent_pca.png")


def plot_train_test_matrix(results: list[dict], out: Path, metric: str = "acc_top1") -> list[Path]:
    """train_test_<scheme>_<link>_keep<k>.png: one heat map per scheme, link and RFS fraction of the
    first channel, rows the receivers' training conditions (rx_train, mean over any other grid
    values such as seeds), columns the test SNRs, each cell the accuracy, its row's best in bold."""
    import numpy as np

    channel = next(r["channel"] for r in results if r["channel"] != NOISELESS)
    rows = [r for r in results if r["channel"] == channel]
    paths = []
    for scheme, link, keep in dict.fromkeys((r["scheme"], r["link"], r["rfs_keep"]) for r in rows):
        sel = [r for r in rows if (r["scheme"], r["link"], r["rfs_keep"]) == (scheme, link, keep)]
        trains = list(dict.fromkeys(str(r["rx_train"]) for r in sel))
        snrs = sorted({r["snr_db"] for r in sel})
        grid = np.full((len(trains), len(snrs)), np.nan)
        for i, tr in enumerate(trains):
            for j, snr in enumerate(snrs):
                vals = [float(r[metric]) for r in sel if str(r["rx_train"]) == tr and r["snr_db"] == snr]
                grid[i, j] = statistics.fmean(vals) if vals else np.nan
        fig, ax = plt.subplots(figsize=(1.0 + 0.75 * len(snrs), 1.2 + 0.45 * len(trains)))
        im = ax.imshow(grid, cmap="viridis", aspect="auto", vmin=np.nanmin(grid), vmax=np.nanmax(grid))
        best = np.nanargmax(grid, axis=0)  # the best training condition for each test SNR
        for i in range(len(trains)):
            for j in range(len(snrs)):
                ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if grid[i, j] < np.nanmean(grid) else "black",
                        fontweight="bold" if best[j] == i else "normal")
        ax.set_xticks(range(len(snrs)), [f"{s:g}" for s in snrs], fontsize=7)
        ax.set_yticks(range(len(trains)), trains, fontsize=7)
        ax.set_xlabel(f"test SNR [dB], {channel}")
        ax.set_ylabel("receiver trained at")
        ax.set_title(f"{metric}: {scheme}, {link}, keep {keep:g} (bold: best per column)", fontsize=8)
        fig.colorbar(im, ax=ax, fraction=0.04)
        fig.tight_layout()
        paths.append(out / f"train_test_{scheme}_{link}_keep{keep:g}.png")
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)
    return paths
