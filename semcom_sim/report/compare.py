"""``semcom-sim compare``: the curves of several finished runs or sweeps in one figure, from their
results.csv alone (nothing is re-run).

A figure is only ever written to a new path or over a PNG this command wrote before (it carries
``Software: semcom-sim compare`` in its metadata): a user's own file is never replaced.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

from ..errors import UserError
from .atomic import replace_atomic
from .results import NOISELESS, read_results

X_AXES = {"snr_db": "SNR = Es/N0 per channel use [dB]", "snr_instance_db": "E_inst/N0, energy per instance [dB]",
          "tti": "TTI (real values sent per instance)", "channel_uses": "channel uses per instance"}
SOFTWARE = "semcom-sim compare"
# colour: the run (and grid cell); marker: the scheme; line: the link (plots.link_style)


def _grid_columns(path: Path) -> list[str]:
    """A sweep's combined results.csv starts with its grid columns, before ``scheme``."""
    with open(path, newline="") as f:
        header = f.readline().strip().split(",")
    return header[:header.index("scheme")] if "scheme" in header else []


def load_runs(folders: list[Path]) -> list[tuple[str, list[dict]]]:
    """(label, rows) per folder; the label is the folder's name, and for a sweep each row's label adds
    its grid values."""
    out = []
    names = [Path(f).resolve().name for f in folders]
    for folder, name in zip(folders, names):
        folder = Path(folder)
        path = folder / "results.csv"
        if not path.is_file():
            raise UserError("holds no results.csv: not a finished run or sweep folder", source=str(folder))
        try:
            grid = _grid_columns(path)
            rows = read_results(path, text=grid)
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise UserError(f"results.csv cannot be read ({e})", source=str(folder)) from None
        if not rows or not {"scheme", "channel", "snr_db"} <= set(rows[0]):
            raise UserError("results.csv has no rows of a run (scheme, channel, snr_db)", source=str(folder))
        # the same folder name twice (runs/a/x and runs/b/x): the parent tells them apart
        label = name if names.count(name) == 1 else f"{folder.resolve().parent.name}/{name}"
        for r in rows:
            r["_label"] = ", ".join([label] + [f"{k}={r[k]}" for k in grid])
        out.append((label, rows))
    return out


def _ours(path: Path) -> bool:
    try:
        from PIL import Image

        with Image.open(path) as im:
            return im.info.get("Software") == SOFTWARE
    except Exception:  # not an image at all: certainly not ours
        return False


def check_output(out: Path) -> None:
    if out.suffix.lower() != ".png":
        raise UserError("the figure is written as PNG: give a name ending in .png", source=str(out))
    shown = str(out)
    if out.is_symlink():  # followed: the file it names is written, the link stays
        out = out.resolve()
    if out.is_dir():
        raise UserError("is a folder; give a file name ending in .png", source=shown)
    if out.exists() and not _ours(out):
        raise UserError("exists and was not written by semcom-sim compare; nothing was touched: choose another "
                        "--out", source=shown)
    if not out.parent.is_dir():
        raise UserError("its folder does not exist", source=shown)
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise UserError("its folder is not writable", source=shown)


def compare(folders: list[Path], out: Path, metric: str = "acc_top1", x: str = "snr_db",
            schemes: list[str] | None = None, keeps: list[float] | None = None) -> Path:
    """One panel per channel (x: an SNR axis) or per channel plus the noiseless rows (x: tti or
    channel_uses); one line per run (and grid cell), scheme, link and RFS fraction."""
    if x not in X_AXES:
        raise UserError(f"--x must be one of {', '.join(X_AXES)} (got {x!r})", source="compare")
    out = Path(out)
    check_output(out)
    runs = load_runs(folders)
    rows = [r for _, rs in runs for r in rs
            if (not schemes or r["scheme"] in schemes)
            and (not keeps or any(math.isclose(float(r["rfs_keep"]), k) for k in keeps))]
    if not rows:
        raise UserError("no row is left after --scheme / --keep", source="compare")
    for label, rs in runs:
        for column in (metric, x):
            if column not in rs[0]:
                metrics = [c for c in rs[0] if c.startswith(("acc_", "r1", "r5", "mae_", "mse_", "ber", "bler", "map",
                                                             "micro_f1"))]
                raise UserError(f"{label}: results.csv has no column {column!r} (metrics there: "
                                f"{', '.join(metrics)})", source="compare")
    rows = [r for r in rows if r[metric] != ""]
    if not rows:
        digital = " (ber, bler and bits apply to digital links)" if metric in ("ber", "bler", "bits") else ""
        raise UserError(f"column {metric!r} has no values in these rows{digital}", source="compare", field="--metric")
    if any(isinstance(r[metric], str) for r in rows):
        raise UserError(f"column {metric!r} holds labels, not numbers", source="compare", field="--metric")
    if x.startswith("snr") and all(r["channel"] == NOISELESS for r in rows):
        raise UserError(f"only noiseless rows (channel {NOISELESS}) are left with a {metric} value: no curve "
                        f"against {x} (try --x tti)", source="compare")
    _plot(rows, out, metric, x)
    return out


def _plot(rows: list[dict], out: Path, metric: str, x: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import link_style, scheme_style

    snr_axis = x.startswith("snr")
    panels = list(dict.fromkeys(r["channel"] for r in rows if r["channel"] != NOISELESS))
    if not snr_axis:
        panels = [NOISELESS] + panels
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.8), sharey=True, squeeze=False)
    labels = list(dict.fromkeys(r["_label"] for r in rows))
    colors = dict(zip(labels, plt.cm.tab10.colors * (1 + len(labels) // 10)))
    for ax, channel in zip(axes[0], panels):
        sel = [r for r in rows if r["channel"] == channel]
        groups = dict.fromkeys((r["_label"], r["scheme"], r["link"], r["rfs_keep"]) for r in sel)
        for label, scheme, link, keep in groups:
            line = [r for r in sel if (r["_label"], r["scheme"], r["link"], r["rfs_keep"]) == (label, scheme, link, keep)]
            if snr_axis:
                line.sort(key=lambda r: r[x])
                xs, ys = [r[x] for r in line], [r[metric] for r in line]
                ax.plot(xs, ys, ls=link_style(link), marker=scheme_style(scheme)[1], ms=3,
                        color=colors[label], label=f"{label}: {scheme}, {link}, keep {keep:g}")
        if not snr_axis:
            # bandwidth axes: one point per RFS fraction, at the channel's best SNR for a channel panel
            for label, scheme, link in dict.fromkeys((g[0], g[1], g[2]) for g in groups):
                pts = [r for r in sel if (r["_label"], r["scheme"], r["link"]) == (label, scheme, link)]
                if channel != NOISELESS:
                    top = max(r["snr_db"] for r in pts)
                    pts = [r for r in pts if r["snr_db"] == top]
                pts.sort(key=lambda r: r[x])
                ax.plot([r[x] for r in pts], [r[metric] for r in pts], ls=link_style(link),
                        marker=scheme_style(scheme)[1], ms=3, color=colors[label], label=f"{label}: {scheme}, {link}")
            ax.set_xscale("log")
        ax.set_title("noiseless" if channel == NOISELESS else channel if snr_axis else f"{channel}, highest SNR")
        ax.set_xlabel(X_AXES[x])
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(metric)
    axes[0][-1].legend(fontsize=6, loc="best")
    fig.tight_layout()
    def write(fd: int, _tmp: str) -> None:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format="png", dpi=120, metadata={"Software": SOFTWARE})

    try:
        replace_atomic(out, write)  # a reader never sees half a figure
    finally:
        plt.close(fig)
