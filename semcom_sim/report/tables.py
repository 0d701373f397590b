"""The papers' Table 1 layout (docs/method.md, section 'Numbers the papers report') from a sweep's
combined results."""
from __future__ import annotations

import csv
import io
import math
import statistics
from pathlib import Path

from .atomic import write_atomic
from .over_seeds import SEED, group_over_seeds, mean_pm_std
from .results import NOISELESS, write_results


def paper_table1() -> dict[tuple[str, int], tuple[float, float, float, int]]:
    """(method, latent dim) -> (MAE, MSE, Acc@1 %, TTI) as [MG] Table 1 reports them (the data file
    ``paper_table1.csv`` beside this module)."""
    from importlib.resources import files

    text = (files("semcom_sim") / "report" / "paper_table1.csv").read_text()
    return {(r["method"], int(r["latent_dim"])): (float(r["mae"]), float(r["mse"]), float(r["acc1"]), int(r["tti"]))
            for r in csv.DictReader(io.StringIO(text))}


def _condition(r: dict) -> str:
    return "noiseless" if r["channel"] == NOISELESS else f"{r['channel']} {float(r['snr_db']):g} dB"


def write_reconstruction_table(rows: list[dict], keys: list[str], out: Path) -> list[dict]:
    """reconstruction_table.csv / .md: per condition (noiseless, channel x SNR), one row per grid
    cell and scheme with MAE and MSE averaged over the reconstructed modalities (and each modality's
    MAE, ``mae_<modality>``), Acc@1 of the class recognised from the reconstructions (mean over
    modalities, %), TTI, TTI/TOI and the TTI saving against the widest scheme of the same cell and
    condition (the conventional one in the paper's layout). Its rows: the schemes the paper's table
    lists, on the first link of the results (the analog one in the paper's layout), at the largest
    RFS fraction.

    ``keys``: the sweep's grid keys (short names, as the rows carry them). The latent dimension is
    ``embedding_dim`` where the grid varies it, else the rows' ``payload_dims`` (D at the largest
    RFS fraction, 1 in the papers' layout). Every grid key but the seed and ``embedding_dim`` leads
    the rows (first-seen order); the markdown and reconstruction_over_seeds.csv hold each
    (condition, those keys, method, latent dim) once, as mean and spread over the seeds."""
    modalities = sorted(k[4:] for k in rows[0] if k.startswith("mae_"))
    others = [k for k in keys if k not in (SEED, "embedding_dim")]
    paper = paper_table1()
    methods = {method for method, _ in paper}
    first_link = rows[0]["link"]
    shown = [r for r in rows if r["link"] == first_link and r["scheme"] in methods
             and float(r["rfs_keep"]) == max(float(x["rfs_keep"]) for x in rows)]

    def dim(r: dict) -> int:
        return int(r["embedding_dim"]) if "embedding_dim" in keys else int(r["payload_dims"])

    widest: dict[tuple, float] = {}
    for r in shown:
        at = (tuple(r[k] for k in keys), _condition(r))
        widest[at] = max(widest.get(at, 0), r["tti"])
    order: dict[tuple, int] = {}
    for r in shown:
        order.setdefault(tuple(r[k] for k in others), len(order))
    table = []
    for r in sorted(shown, key=lambda r: (r["channel"] != NOISELESS, r["channel"], float(r["snr_db"]),
                                          order[tuple(r[k] for k in others)], dim(r), -r["tti"])):
        saving = 1 - r["tti"] / widest[tuple(r[k] for k in keys), _condition(r)]
        table.append({
            "condition": _condition(r), **{k: r[k] for k in others}, "method": r["scheme"], "latent_dim": dim(r),
            **({SEED: r[SEED]} if SEED in keys else {}),
            "mae": statistics.fmean(r[f"mae_{m}"] for m in modalities),
            "mse": statistics.fmean(r[f"mse_{m}"] for m in modalities),
            "acc1": 100 * statistics.fmean(r[f"acc_recon_{m}"] for m in modalities),
            **{f"mae_{m}": r[f"mae_{m}"] for m in modalities},
            "tti": r["tti"], "tti_toi": r["tti_toi"], "tti_saving": saving,
        })
    write_atomic(out / "reconstruction_table.csv", _csv(table))  # an interrupted sweep leaves no half table
    # the markdown shows each (condition, grid values, method, latent dim) once: mean ± std over the seeds
    grouped = group_over_seeds(table, ["condition", *others, "method", "latent_dim"])
    write_results(grouped, out / "reconstruction_over_seeds.csv", leading=())
    n_seeds = max(g["n_seeds"] for g in grouped)
    lines = [f"Mean ± sample std over {n_seeds} seeds per row.", ""] if n_seeds > 1 else []
    lead = "".join(f"{k} | " for k in others)
    for cond in dict.fromkeys(t["condition"] for t in table):
        lines += [f"**{cond}** (modalities: {', '.join(modalities)})", "",
                  f"| {lead}method | latent dim | MAE | MSE | Acc@1 | TTI | TTI/TOI | paper MAE / MSE / TTI |",
                  "|" + "---|" * (len(others) + 8)]
        for t in (t for t in grouped if t["condition"] == cond):
            ref = paper.get((t["method"], t["latent_dim"]))
            ref = f"{ref[0]:.3f} / {ref[1]:.3f} / {ref[3]}" if ref else "-"
            cut = t["tti_saving_mean"]
            saving = f" (-{cut:.0%})" if cut > 0 and not math.isclose(cut, 0) else ""
            cells = "".join(f"{t[k]} | " for k in others)
            lines.append(f"| {cells}{t['method']} | {t['latent_dim']} | {mean_pm_std(t, 'mae')} | "
                         f"{mean_pm_std(t, 'mse')} | {mean_pm_std(t, 'acc1', '.1f')} | {t['tti_mean']:.0f}{saving} | "
                         f"{t['tti_toi_mean']:.4f} | {ref} |")
        lines.append("")
    write_atomic(out / "reconstruction_table.md", "\n".join(lines))
    return table


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()
