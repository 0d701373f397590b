"""Experiments: a grid of overrides over a base scenario, each cell an ordinary run.

Cells that differ only downstream of training share trained encoders through the training
cache (its key holds only upstream fields). A cell is finished when its folder holds a complete
run whose resolved scenario equals the one the cell would run now; runs write their folder
atomically, so a killed sweep resumes without redoing or losing finished cells, and an edited
experiment reruns exactly the cells whose settings changed.

The cells run on an executor (:mod:`semcom_sim.executors`): here one after another, or as Ray
tasks on this machine or a cluster. Each cell runs with as many torch threads as its
``resources.num_cpus`` (rounded up), under either executor, so the outputs do not depend on it.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import statistics
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, field_validator

from .scenario import Frozen, Scenario, load_scenario, read_yaml, validation_error
from .errors import UserError
from .report import RESULT_COLUMNS, read_results, write_results
from .report.over_seeds import SEED, write_over_seeds
from .report.results import NOISELESS
from .report.atomic import write_atomic
from .report.folders import check_apart, check_target, clean_stale, damage, is_marked, make_folder

# every cell is parsed and checked before any runs (sweep fails fast on a typo): this bounds that
MAX_CELLS = 10_000


class CellResources(Frozen):
    """What one cell asks of a Ray worker (fractions allowed); num_cpus also sets the cell's torch
    threads under every executor."""

    num_cpus: float = Field(1.0, gt=0.0, le=4096)
    # asked for only by cells that run on a GPU (device cuda, or auto on a cluster that has one)
    num_gpus: float = Field(1.0, gt=0.0, le=64)


class Experiment(Frozen):
    # a folder name under runs/, as a scenario's name: no path separators, no leading dot, not empty
    name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.+=-]*$", max_length=128)
    base: str  # scenario file, relative to the experiment file
    set: dict[str, Any] = Field(default_factory=dict)  # dotted overrides applied to every cell
    grid: dict[str, list[Any]]  # dotted key -> values; the cells are their cartesian product
    pca_cells: bool = False  # also draw the PCA latent pictures of all cells side by side
    reconstruction_table: bool = False  # also write the papers' Table 1 layout (needs decoders)
    # also draw, per scheme, link and RFS fraction, the accuracy of each receiver training condition
    # (rows: results.csv's rx_train) at each test SNR (columns): train_test_*.png
    train_test_matrix: bool = False
    resources: CellResources = Field(default_factory=CellResources)

    @field_validator("grid")
    @classmethod
    def _grid(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        if not v:
            raise ValueError("the grid is empty")
        for key, values in v.items():
            if not values:
                raise ValueError(f"{key}: no values")
        # before anything enumerates the cells: a few keys of ten values each are already 10^6 of them
        n = math.prod(len(values) for values in v.values())
        if n > MAX_CELLS:
            raise ValueError(f"the grid has {n:,} cells (the product of its lists' lengths), more than "
                             f"{MAX_CELLS:,}: split the experiment or shorten its lists")
        return v


def load_experiment(path: str | Path) -> Experiment:
    path = Path(path)
    try:
        return Experiment.model_validate(read_yaml(path))
    except ValidationError as e:
        raise validation_error(e, str(path)) from None


def _fmt_value(v: Any) -> str:
    if v is None:
        return "null"  # YAML's None, as an override reads it back
    return json.dumps(v) if isinstance(v, (list, dict)) else str(v).lower() if isinstance(v, bool) else str(v)


def short_keys(keys: list[str]) -> dict[str, str]:
    """Last component of each dotted key where that is unambiguous and names no column of the
    tables (``transmitter.rfs_keep`` stays whole: a grid column ``rfs_keep`` would stand beside the
    results' own and be read in its place), else the whole key."""
    last = [k.split(".")[-1] for k in keys]
    return {k: (s if last.count(s) == 1 and s not in _TABLE_COLUMNS else k) for k, s in zip(keys, last)}


_NAME_CHARS = 96  # of the readable part; the folder name stays far below the file systems' 255 bytes


def cell_name(cell: dict[str, Any]) -> str:
    """The cell's folder name: a readable part, ``temperature-0.07_enabled-true_seed-1`` (runs of
    characters outside ``[A-Za-z0-9._=-]`` squashed to ``_``, cut to a length), then a hash of the
    cell's keys and values, so that cells whose readable parts coincide (``/x/d/e.npz`` and
    ``/x/d_e.npz``) still get folders of their own."""
    names = short_keys(list(cell))
    parts = [f"{names[k]}-{_fmt_value(v)}" for k, v in cell.items()]
    readable = re.sub(r"[^A-Za-z0-9._=-]+", "_", "_".join(parts))[:_NAME_CHARS].lstrip(".") or "cell"
    exact = json.dumps([[k, v] for k, v in cell.items()], sort_keys=True, default=repr, ensure_ascii=False)
    return f"{readable}-{hashlib.sha256(exact.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"


def cells(exp: Experiment) -> list[dict[str, Any]]:
    keys = list(exp.grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(exp.grid[k] for k in keys))]


def cell_state(folder: Path, scenario) -> str:
    """``finished`` when the folder holds a complete run of exactly this resolved scenario, its files
    as the run wrote them; ``damaged`` when some file changed or went missing since; ``stale`` when
    it holds a run of other settings (the experiment was edited); else ``todo``."""
    from .pipeline import scenario_yaml

    if not is_marked(folder, "run"):
        return "todo"
    if damage(folder) is not None:
        return "damaged"
    try:
        saved = yaml.safe_load((folder / "scenario.yaml").read_text())
        # through the model, so a field added since the cell ran counts at its default: options
        # added later default to what the code did before them, and do not rerun finished cells
        saved = yaml.safe_load(scenario_yaml(Scenario.model_validate(saved)))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValidationError):
        return "stale"
    now = yaml.safe_load(scenario_yaml(scenario))
    # the limits guard the machine and the cache folder holds copies: changing either reruns nothing
    for s in (saved, now):
        if isinstance(s, dict):
            s.pop("limits", None)
            if isinstance(s.get("data"), dict):
                s["data"].pop("cache_dir", None)
    return "finished" if saved == now else "stale"


class SweepFailed(Exception):
    """Some cells failed (the others ran); the message names them, one line each."""


def _cell_tasks(todo, exp: Experiment, base: Path, out: Path, log) -> list:
    """The unfinished cells as executor tasks, in grid order (finished cells are logged and skipped)."""
    import os

    from .cache import entry_is_valid
    from .executors import CellTask
    from .pipeline import default_cache_dir
    from .training.trainer import encoder_cache_path

    tasks = []
    env = {k: os.environ[k] for k in ("SEMCOM_SIM_CACHE",) if os.environ.get(k)}
    for i, (cell, scenario) in enumerate(todo):
        folder = out / "cells" / cell_name(cell)
        state = cell_state(folder, scenario)
        if state == "finished":
            log(f"[{i + 1}/{len(todo)}] {folder.name}: finished earlier, skipped")
            continue
        if state == "stale":
            log(f"[{i + 1}/{len(todo)}] {folder.name}: settings changed since it ran, rerunning")
        elif state == "damaged":
            log(f"[{i + 1}/{len(todo)}] {folder.name}: {damage(folder)}, rerunning")
        entry = encoder_cache_path(scenario, default_cache_dir(scenario), base)
        tasks.append(CellTask(name=folder.name, scenario=scenario, folder=folder.resolve(), scenario_path=base,
                              encoder_key=entry.stem, encoders_cached=entry_is_valid(entry),
                              num_cpus=exp.resources.num_cpus,
                              num_gpus=exp.resources.num_gpus if scenario.device != "cpu" else 0.0,
                              env=env))
    return tasks


def _check_caches(todo, base: Path, out: Path) -> None:
    """Before the sweep folder is made: each cell's cache folder lies apart from it and, where the
    cell's encoders are not in it yet, can be written (a file given as --cache fails here)."""
    from .cache import check_writable, entry_is_valid
    from .pipeline import default_cache_dir
    from .training.trainer import encoder_cache_path

    needed: dict[Path, bool] = {}
    for _, scenario in todo:
        folder = default_cache_dir(scenario)
        if not needed.get(folder):
            needed[folder] = not entry_is_valid(encoder_cache_path(scenario, folder, base))
    for folder, build in needed.items():
        check_apart(out, folder)
        if build:
            check_writable(folder)


def run_sweep(exp_path: str | Path, out_dir: str | Path | None = None, *, device: str | None = None,
              reporter_factory=None, log=print, executor: str = "local", cache: str | Path | None = None,
              **executor_options) -> Path:
    """Run every unfinished cell on ``executor``, then write the combined tables and plots; returns
    the folder. ``cache``: the cache folder of every cell (data.cache_dir), e.g. a path that every
    node of a cluster shares. Raises :class:`SweepFailed` naming the cells that failed (after the
    others ran); the combined outputs are then not written."""
    import importlib

    from .executors import EXECUTORS

    if executor not in EXECUTORS:
        raise UserError(f"unknown executor {executor!r} (known: {', '.join(EXECUTORS)})", field="--executor")
    exp_path = Path(exp_path)
    exp = load_experiment(exp_path)
    base = (exp_path.parent / exp.base).resolve()
    out = Path(out_dir) if out_dir else Path("runs") / exp.name
    fixed = [f"{k}={_fmt_value(v)}" for k, v in exp.set.items()] + ([f"device={device}"] if device else [])
    if cache is not None:
        fixed.append(f"data.cache_dir={Path(cache).expanduser().resolve()}")
    todo = []
    # parse and check every cell before running any, so a typo fails in seconds, not hours
    for cell in cells(exp):
        overrides = fixed + [f"{k}={_fmt_value(v)}" for k, v in cell.items()]
        try:
            scenario = load_scenario(base, overrides)
        except UserError as e:
            raise UserError(f"cell {cell_name(cell)}: {e}", source=str(exp_path)) from None
        todo.append((cell, scenario))
    out = check_target(out, "sweep")
    _check_caches(todo, base, out)
    runner = importlib.import_module(f".executors.{executor}", __package__)
    with runner.session(**executor_options) as run_cells:  # a bad --address fails before anything is written
        make_folder(out, "sweep")
        (out / "cells").mkdir(exist_ok=True)
        clean_stale(out / "cells")
        write_atomic(out / "experiment.yaml", yaml.safe_dump(exp.model_dump(mode="json"), sort_keys=False))
        tasks = _cell_tasks(todo, exp, base, out, log)
        failed = run_cells(tasks, log=log, reporter_factory=reporter_factory)
    clean_stale(out / "cells")  # what workers killed mid-cell left, once no cell runs
    if failed:
        raise SweepFailed(f"{len(failed)} of {len(tasks)} cells failed (the others are finished; "
                          f"rerun the sweep to retry them):\n" + "\n".join(f"  {n}: {e}" for n, e in failed.items()))
    combine(out, [c for c, _ in todo], exp)
    return out


# the columns of results.csv and cells.csv that a grid column must not repeat
_TABLE_COLUMNS = frozenset(RESULT_COLUMNS) | {
    "map", "micro_f1", "gap_mean", "fisher_ratio", "components_90pct", "xmodal_r1", "xmodal_r5", "kmeans_ari",
    "kmeans_nmi", "kmeans_v_measure", "true_pair_cosine", "uniformity", "n_seeds"}

# what each noiseless row contributes to the tables over seeds (map / micro_f1: multi-label data)
_NOISELESS_COLUMNS = ("scheme", "link", "rfs_keep", "tti", "acc_top1", "acc_top5", "map", "micro_f1")


def _latent_columns(lat: dict) -> dict[str, Any]:
    """cells.csv's latent measures of one cell's summary (empty where a measure does not apply)."""
    clusters = lat.get("clustering") or {}
    retrieval = lat["cross_modal_retrieval"].values()
    uniformity = list(lat["uniformity"].values())
    return {
        "gap_mean": lat["gap_mean"], **{f"gap_{p}": v for p, v in lat["gap"].items()},
        "fisher_ratio": lat["fisher_ratio_pooled"], "components_90pct": lat["components_for_90pct"],
        # instance identification across modalities, mean over the ordered pairs
        "xmodal_r1": statistics.fmean(v["r1"] for v in retrieval) if retrieval else None,
        "xmodal_r5": statistics.fmean(v["r5"] for v in retrieval) if retrieval else None,
        "kmeans_ari": clusters.get("ari"), "kmeans_nmi": clusters.get("nmi"),
        "kmeans_v_measure": clusters.get("v_measure"),
        "true_pair_cosine": lat["true_pair_cosine_mean"],
        "uniformity": statistics.fmean(uniformity) if uniformity else None,
    }


def combine(out: Path, grid_cells: list[dict[str, Any]], exp: Experiment) -> None:
    """cells.csv (one row per cell: latent measures, noiseless accuracy), results.csv (every row of
    every cell, grid values first), with a seed in the grid their means and spreads over the seeds
    (latent_over_seeds, accuracy_over_seeds: .csv and .md), and comparison plots, all from the
    cells' files."""
    from .report.sweep_plots import plot_sweep

    keys = list(exp.grid)
    names = short_keys(keys)
    cell_rows, all_rows, noiseless = [], [], []
    for cell in grid_cells:
        folder = out / "cells" / cell_name(cell)
        problem = damage(folder)  # the cells were checked or written just now; a user may have been quicker
        if problem is not None:
            raise UserError(f"{problem}; rerun the sweep to redo this cell", source=str(folder))
        lat = json.loads((folder / "summary.json").read_text())["latent_test"]
        grid_values = {names[k]: _fmt_value(cell[k]) for k in keys}
        latent = _latent_columns(lat)
        results = read_results(folder / "results.csv")
        for r in [latent, *results]:
            clash = set(grid_values) & set(r)
            if clash:  # a column of the run's own (gap_<modality>, mae_image) named like a grid column
                raise UserError(f"the grid column {sorted(clash)[0]!r} is also a column of the run's results; "
                                "give its full dotted key a different last part", source=str(folder))
        row: dict[str, Any] = {**grid_values, **latent}
        for r in results:
            if r["channel"] == NOISELESS:
                for metric in ("acc_top1", "acc_top5"):
                    row[f"{metric}_{r['scheme']}_keep{r['rfs_keep']:g}"] = r[metric]
                noiseless.append({**grid_values, **{c: r[c] for c in _NOISELESS_COLUMNS if c in r}})
            all_rows.append({**grid_values, **r})
        cell_rows.append(row)
    # grid columns first; the combined results keep the per-run column order after them
    write_results(cell_rows, out / "cells.csv", leading=())
    write_results(all_rows, out / "results.csv", leading=tuple(names[k] for k in keys) + RESULT_COLUMNS)
    if SEED in names.values():
        write_over_seeds(out, [names[k] for k in keys], cell_rows, noiseless)
    if exp.reconstruction_table:
        from .report.tables import write_reconstruction_table

        write_reconstruction_table(all_rows, [names[k] for k in keys], out)
    plot_sweep(out, [names[k] for k in keys], exp.pca_cells, [cell_name(c) for c in grid_cells])
    if exp.train_test_matrix:
        from .report.sweep_plots import plot_train_test_matrix

        plot_train_test_matrix(read_results(out / "results.csv", text=[names[k] for k in keys]), out)

