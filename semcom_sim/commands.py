"""The commands of ``semcom-sim`` (typer); :mod:`semcom_sim.cli` is the entry point around them.

Heavy modules (torch, Sionna, open_clip, matplotlib) are imported inside the commands that use
them, so ``--help`` and ``--version`` answer at once.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import List, Optional

import typer

from . import __version__
from .errors import BrokenInstall, TrainingDiverged, UserError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Multimodal semantic communication simulator.")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"semcom-sim {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                          help="print the version and exit")) -> None:
    """Multimodal semantic communication simulator."""


def _fail(msg: str, code: int = 2) -> None:
    typer.echo(f"semcom-sim: {msg}", err=True)
    raise typer.Exit(code)


@app.command()
def run(
    scenario: Path = typer.Argument(..., help="scenario YAML file"),
    out: Optional[Path] = typer.Option(None, "--out", help="output folder (default: runs/<scenario name>)"),
    device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | cuda (overrides the scenario)"),
    set_: List[str] = typer.Option([], "--set", help="override one field: dotted.key=value (repeatable)"),
) -> None:
    """Run a scenario end to end and write results.csv, summary.json and plots."""
    from .scenario import load_scenario
    from .pipeline import run as run_pipeline
    from .report import RichReporter

    overrides = list(set_) + ([f"device={device}"] if device is not None else [])
    t0 = time.perf_counter()
    try:
        sc = load_scenario(scenario, overrides)
        out_dir = out or Path("runs") / sc.name
        rep = RichReporter()
        try:
            result = run_pipeline(sc, out_dir, scenario_path=scenario, reporter=rep)
        finally:
            rep.close()
    except UserError as e:
        _fail(str(e))
    except (TrainingDiverged, BrokenInstall) as e:
        _fail(f"{scenario}: {e}", code=1)
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"stage times, {sc.name}", show_edge=False)
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    for k, v in result.timings.items():
        table.add_row(k, f"{v:.2f}")
    table.add_row("total (incl. start-up)", f"{time.perf_counter() - t0:.2f}")
    console = Console()
    console.print(table)
    console.print(f"results in {result.out_dir}/ (results.csv, summary.json, plots)")


@app.command()
def sweep(
    experiment: Path = typer.Argument(..., help="experiment YAML file (base scenario + grid of overrides)"),
    out: Optional[Path] = typer.Option(None, "--out", help="output folder (default: runs/<experiment name>)"),
    device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | cuda (overrides the scenario)"),
    executor: str = typer.Option("local", "--executor", help="local (one cell after another, here) | ray "
                                                             "(one Ray task per cell; pip install '.[ray]')"),
    address: Optional[str] = typer.Option(None, "--address", help="ray: the cluster (default $RAY_ADDRESS, "
                                                                  "else a local Ray started for this sweep)"),
    max_parallel: Optional[int] = typer.Option(None, "--max-parallel", min=1,
                                               help="ray: at most this many cells at once (default: as "
                                                    "many as the cluster's CPUs hold)"),
    cache: Optional[Path] = typer.Option(None, "--cache", help="cache folder of every cell (data.cache_dir); "
                                                               "on a cluster, a path every node shares"),
) -> None:
    """Run every cell of an experiment grid (skipping finished ones) and combine their results."""
    from .report import RichReporter
    from .sweep import SweepFailed, run_sweep

    if executor != "ray" and (address is not None or max_parallel is not None):
        _fail(f"{experiment}: --address and --max-parallel belong to --executor ray")
    options = {"address": address, "max_parallel": max_parallel} if executor == "ray" else {}
    t0 = time.perf_counter()
    try:
        folder = run_sweep(experiment, out, device=device, reporter_factory=RichReporter, log=typer.echo,
                           executor=executor, cache=cache, **options)
    except UserError as e:
        _fail(str(e))
    except (TrainingDiverged, BrokenInstall) as e:
        _fail(f"{experiment}: {e}", code=1)
    except SweepFailed as e:
        _fail(f"{experiment}: {e}", code=1)
    typer.echo(f"sweep finished in {time.perf_counter() - t0:.1f} s: {folder}/ (cells.csv, results.csv, plots)")


@app.command()
def compare(
    folders: List[Path] = typer.Argument(..., help="finished run or sweep folders (each holds a results.csv)"),
    metric: str = typer.Option("acc_top1", "--metric", help="a results.csv column: acc_top1, acc_top5, r1, ..."),
    x: str = typer.Option("snr_db", "--x", help="snr_db | snr_instance_db | tti | channel_uses"),
    out: Path = typer.Option(Path("compare.png"), "--out", help="figure to write (.png; never over a file "
                                                               "this command did not write)"),
    scheme: List[str] = typer.Option([], "--scheme", help="only this scheme (repeatable)"),
    keep: List[float] = typer.Option([], "--keep", help="only this RFS keep fraction (repeatable)"),
) -> None:
    """Overlay the curves of several finished runs or sweeps, from their results.csv (nothing re-runs)."""
    from .report.compare import compare as draw

    try:
        path = draw(list(folders), out, metric=metric, x=x, schemes=list(scheme), keeps=list(keep))
    except UserError as e:
        _fail(str(e))
    typer.echo(f"{path}: {metric} against {x} for {len(folders)} folder(s)")


@app.command()
def validate(
    scenario: Path = typer.Argument(..., help="scenario YAML file"),
    set_: List[str] = typer.Option([], "--set", help="override one field: dotted.key=value (repeatable)"),
) -> None:
    """Check a scenario file without running it."""
    from .scenario import load_scenario

    try:
        sc = load_scenario(scenario, list(set_))
    except UserError as e:
        _fail(str(e))
    typer.echo(f"{scenario}: ok ({sc.name}, {len(sc.channel.presets)} channel presets, "
               f"{len(sc.channel.snr_values())} SNR points)")


@app.command()
def presets(
    scenario: Optional[Path] = typer.Option(None, "--scenario", help="also list presets beside this scenario file"),
) -> None:
    """List the channel presets a scenario can name in channel.presets."""
    from .scenario import check_channel_preset, list_presets

    for name, path in list_presets(scenario).items():
        try:
            preset = check_channel_preset(path)
            what = ", ".join([preset.model, *(f"{k}={v}" for k, v in preset.options.items())])
        except UserError as e:  # a broken user preset is listed, not fatal
            what = f"invalid: {str(e).splitlines()[0]}"
        typer.echo(f"{name:20s} {what:30s} {path}")
