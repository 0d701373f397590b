"""Mean and spread over the seeds of a sweep: every other grid value is one group, every numeric
column becomes its mean and its sample standard deviation (n - 1) over the group's seeds."""
from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any, Iterable

from .atomic import write_atomic
from .results import write_results

SEED = "seed"


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or v is None or v == "":
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x


def group_over_seeds(rows: list[dict], keys: Iterable[str]) -> list[dict]:
    """One row per combination of ``keys`` (the seed left out), in first-seen order: the keys'
    values, ``n_seeds``, and ``{col}_mean`` / ``{col}_std`` for every other column that is numeric in
    every row of the group (a column empty in some row, or text, is left out of that group). std is
    0 for a single seed; a non-finite value (an infinite Fisher ratio) makes mean and std nan."""
    keys = [k for k in keys if k != SEED]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(r.get(k) for k in keys), []).append(r)
    out = []
    for g, sel in groups.items():
        row: dict[str, Any] = dict(zip(keys, g))
        row["n_seeds"] = len(sel)
        columns = [c for c in sel[0] if c not in keys and c != SEED]
        for c in columns:
            values = [_number(r.get(c)) for r in sel]
            if any(v is None for v in values):
                continue
            if not all(math.isfinite(v) for v in values):
                row[f"{c}_mean"] = row[f"{c}_std"] = math.nan
                continue
            row[f"{c}_mean"] = statistics.fmean(values)
            row[f"{c}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        out.append(row)
    return out


def mean_pm_std(row: dict, column: str, fmt: str = ".3f", scale: float = 1.0) -> str:
    """``"0.512 ± 0.013"`` (just the mean for one seed; ``-`` where the column is missing)."""
    if f"{column}_mean" not in row:
        return "-"
    mean, std = row[f"{column}_mean"] * scale, row[f"{column}_std"] * scale
    if row.get("n_seeds", 1) < 2:
        return format(mean, fmt)
    return f"{format(mean, fmt)} ± {format(std, fmt)}"


# (cells.csv column, heading, format, scale) of the latent table; a column no cell has is left out
_LATENT = (("gap_mean", "gap", ".3f", 1), ("fisher_ratio", "Fisher ratio", ".2f", 1),
           ("components_90pct", "PCs for 90 %", ".1f", 1), ("xmodal_r1", "cross-modal R@1 %", ".1f", 100),
           ("xmodal_r5", "cross-modal R@5 %", ".1f", 100), ("kmeans_ari", "k-means ARI", ".3f", 1),
           ("kmeans_nmi", "k-means NMI", ".3f", 1), ("true_pair_cosine", "true-pair cosine", ".3f", 1),
           ("uniformity", "uniformity", ".2f", 1))
_ACCURACY = (("tti", "TTI", ".0f", 1), ("acc_top1", "top-1 %", ".1f", 100), ("acc_top5", "top-5 %", ".1f", 100),
             ("map", "mAP %", ".1f", 100), ("micro_f1", "micro-F1 %", ".1f", 100))


def _markdown(rows: list[dict], keys: list[str], columns) -> list[str]:
    columns = [c for c in columns if any(f"{c[0]}_mean" in r for r in rows)]
    lines = ["| " + " | ".join(keys + [c[1] for c in columns]) + " |", "|" + "---|" * (len(keys) + len(columns))]
    for r in rows:
        cells = [str(r[k]) for k in keys] + [mean_pm_std(r, c, fmt, scale) for c, _, fmt, scale in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def write_over_seeds(out: Path, keys: list[str], cells: list[dict], noiseless: list[dict]) -> None:
    """latent_over_seeds.csv / accuracy_over_seeds.csv and one over_seeds.md holding both tables:
    the sweep's cells.csv rows and noiseless results grouped over the ``seed`` grid key."""
    out = Path(out)
    group = [k for k in keys if k != SEED]
    latent = group_over_seeds(cells, group)
    accuracy = group_over_seeds(noiseless, group + ["scheme", "link", "rfs_keep"])
    write_results(latent, out / "latent_over_seeds.csv", leading=())
    write_results(accuracy, out / "accuracy_over_seeds.csv", leading=())
    n = sorted({r["n_seeds"] for r in latent})
    seeds = "/".join(str(v) for v in n)
    lines = [f"Mean ± sample std over {seeds} seeds per row (noiseless; test set).", "",
             "**Latent space**", ""] + _markdown(latent, group, _LATENT)
    lines += ["", "**Noiseless accuracy**", ""] + _markdown(accuracy, group + ["scheme", "link", "rfs_keep"],
                                                           _ACCURACY)
    write_atomic(out / "over_seeds.md", "\n".join(lines) + "\n")
