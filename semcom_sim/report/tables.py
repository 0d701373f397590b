"""The papers' Table 1 layout (METHOD.md section 7) from a sweep's combined results."""
from __future__ import annotations

import csv
import io
import math
import statistics
from pathlib import Path

from .folders import write_atomic
from .over_seeds import SEED, group_over_seeds, mean_pm_std
from .results import NOISELESS

PAPER_TABLE1 = {  # (scheme, latent dim): (MAE, MSE, Acc@1 %, TTI) as [MG] Table 1 reports them
    ("conventional", 3): (0.099, 0.049, 100.0, 9), ("centroid", 3): (0.099, 0.050, 100.0, 3),
    ("conventional", 16): (0.078, 0.016, 100.0, 48), ("centroid", 16): (0.088, 0.033, 100.0, 16),
    ("conventional", 32): (0.079, 0.014, 100.0, 96), ("centroid", 32): (0.091, 0.038, 100.0, 32),
}


def _condition(r: dict) -> str:
    return "noiseless" if r["channel"] == NOISELESS else f"{r['channel']} {float(r['snr_db']):g} dB"


def write_reconstruction_table(rows: list[dict], keys: list[str], out: Path) -> list[dict]:
    """reconstruction_table.csv / .md: per condition (noiseless, channel x SNR), one row per latent
    dimension and scheme with MAE and MSE averaged over the reconstructed modalities, Acc@1 of the
    class recognised from the reconstructions (mean over modalities, %), TTI, TTI/TOI and the TTI
    saving against the conventional scheme. ``keys`` must contain ``embedding_dim``."""
    modalities = sorted(k[4:] for k in rows[0] if k.startswith("mae_"))
    analog = [r for r in rows if r["link"] == "analog" and r["scheme"] in ("conventional", "centroid")
              and float(r["rfs_keep"]) == max(float(x["rfs_keep"]) for x in rows)]
    conv_tti = {(r["embedding_dim"], _condition(r)): r["tti"] for r in analog if r["scheme"] == "conventional"}
    table = []
    for r in sorted(analog, key=lambda r: (r["channel"] != NOISELESS, r["channel"], float(r["snr_db"]),
                                           int(r["embedding_dim"]), r["scheme"] != "conventional")):
        saving = 1 - r["tti"] / conv_tti[r["embedding_dim"], _condition(r)]
        table.append({
            "condition": _condition(r), "method": r["scheme"], "latent_dim": int(r["embedding_dim"]),
            **({SEED: r[SEED]} if SEED in keys else {}),
            "mae": statistics.fmean(r[f"mae_{m}"] for m in modalities),
            "mse": statistics.fmean(r[f"mse_{m}"] for m in modalities),
            "acc1": 100 * statistics.fmean(r[f"acc_recon_{m}"] for m in modalities),
            "tti": r["tti"], "tti_toi": r["tti_toi"], "tti_saving": saving,
        })
    buf = io.StringIO()
    w = csv.DictWriter(buf, list(table[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(table)
    write_atomic(out / "reconstruction_table.csv", buf.getvalue())  # an interrupted sweep leaves no half table
    # the markdown shows each (condition, method, latent dim) once: mean ± std over the seeds
    grouped = group_over_seeds(table, ["condition", "method", "latent_dim"])
    n_seeds = max(g["n_seeds"] for g in grouped)
    lines = [f"Mean ± sample std over {n_seeds} seeds per row.", ""] if n_seeds > 1 else []
    for cond in dict.fromkeys(t["condition"] for t in table):
        lines += [f"**{cond}** (modalities: {', '.join(modalities)})", "",
                  "| method | latent dim | MAE | MSE | Acc@1 | TTI | TTI/TOI | paper MAE / MSE / TTI |",
                  "|---|---|---|---|---|---|---|---|"]
        for t in (t for t in grouped if t["condition"] == cond):
            paper = PAPER_TABLE1.get((t["method"], t["latent_dim"]))
            ref = f"{paper[0]:.3f} / {paper[1]:.3f} / {paper[3]}" if paper else "-"
            cut = t["tti_saving_mean"]
            saving = f" (-{cut:.0%})" if cut > 0 and not math.isclose(cut, 0) else ""
            lines.append(f"| {t['method']} | {t['latent_dim']} | {mean_pm_std(t, 'mae')} | {mean_pm_std(t, 'mse')} | "
                         f"{mean_pm_std(t, 'acc1', '.1f')} | {t['tti_mean']:.0f}{saving} | {t['tti_toi_mean']:.4f} | "
                         f"{ref} |")
        lines.append("")
    write_atomic(out / "reconstruction_table.md", "\n".join(lines))
    return table
