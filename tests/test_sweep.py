import csv

import yaml
from typer.testing import CliRunner

from semcom_sim.cli import app

runner = CliRunner()


def test_sweep_runs_a_2x2_grid_and_skips_finished_cells(tiny_raw, write_scenario, tmp_path):
    tiny_raw["channel"] = {"presets": ["awgn"], "snr_db": [10.0], "mc_draws": 1}
    tiny_raw["transmitter"]["rfs_keep"] = [1.0]
    write_scenario(tiny_raw, "base.yaml")
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump({"name": "t", "base": "base.yaml", "set": {"training.epochs": 4},
                                   "grid": {"training.temperature": [0.01, 0.3], "receiver.l2": [0.001, 0.1]}},
                                  sort_keys=False))
    out = tmp_path / "sweep"
    res = runner.invoke(app, ["sweep", str(exp), "--out", str(out)])
    assert res.exit_code == 0, res.output + res.stderr
    cells = sorted(p.name for p in (out / "cells").iterdir())
    assert [c.rsplit("-", 1)[0] for c in cells] == ["temperature-0.01_l2-0.001", "temperature-0.01_l2-0.1",
                     "temperature-0.3_l2-0.001", "temperature-0.3_l2-0.1"]
    rows = list(csv.DictReader(open(out / "cells.csv")))
    assert len(rows) == 4
    gap = {(r["temperature"], r["l2"]): float(r["gap_mean"]) for r in rows}
    # the head's l2 is downstream of training: same encoders, same gap
    assert gap[("0.01", "0.001")] == gap[("0.01", "0.1")]
    assert gap[("0.3", "0.001")] < gap[("0.01", "0.001")]
    # 4 cells x 2 schemes x (noiseless + 1 SNR point)
    assert len(list(csv.DictReader(open(out / "results.csv")))) == 4 * 2 * 2
    assert (out / "latent_measures.png").is_file() and (out / "accuracy_vs_rfs.png").is_file()

    # a second call finds every cell finished, and a lost combined table is rebuilt
    mtimes = {c: (out / "cells" / c / "results.csv").stat().st_mtime_ns for c in cells}
    (out / "cells.csv").unlink()
    res = runner.invoke(app, ["sweep", str(exp), "--out", str(out)])
    assert res.exit_code == 0
    assert res.output.count("finished earlier, skipped") == 4
    assert mtimes == {c: (out / "cells" / c / "results.csv").stat().st_mtime_ns for c in cells}
    assert len(list(csv.DictReader(open(out / "cells.csv")))) == 4


def test_sweep_checks_every_cell_before_running(tiny_raw, write_scenario, tmp_path):
    base = write_scenario(tiny_raw, "base.yaml")
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump({"name": "t", "base": base.name,
                                   "grid": {"training.temperature": [0.1, -1.0]}}))
    res = runner.invoke(app, ["sweep", str(exp), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "temperature--1.0" in res.stderr and "training.temperature" in res.stderr
    assert not (tmp_path / "o").exists()


def test_a_seed_in_the_grid_gives_mean_and_spread_over_seeds(tiny_raw, write_scenario, tmp_path):
    import statistics

    tiny_raw["channel"] = {"presets": ["awgn"], "snr_db": [10.0], "mc_draws": 1}
    tiny_raw["transmitter"]["rfs_keep"] = [1.0, 0.5]
    write_scenario(tiny_raw, "base.yaml")
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump({"name": "t", "base": "base.yaml", "set": {"training.epochs": 3},
                                   "grid": {"training.temperature": [0.01, 0.3], "seed": [0, 1]}}, sort_keys=False))
    out = tmp_path / "sweep"
    res = runner.invoke(app, ["sweep", str(exp), "--out", str(out)])
    assert res.exit_code == 0, res.output + res.stderr
    cells = list(csv.DictReader(open(out / "cells.csv")))
    for c in cells:  # the latent columns: retrieval and clustering, in range
        assert 0 <= float(c["xmodal_r1"]) <= float(c["xmodal_r5"]) <= 1
        assert -1 <= float(c["kmeans_ari"]) <= 1 and 0 <= float(c["kmeans_nmi"]) <= 1
        assert float(c["uniformity"]) < 0 and -1 <= float(c["true_pair_cosine"]) <= 1
    latent = list(csv.DictReader(open(out / "latent_over_seeds.csv")))
    assert [(r["temperature"], r["n_seeds"]) for r in latent] == [("0.01", "2"), ("0.3", "2")]
    for r in latent:
        gaps = [float(c["gap_mean"]) for c in cells if c["temperature"] == r["temperature"]]
        assert gaps[0] != gaps[1]  # the seed changes the encoders
        assert abs(float(r["gap_mean_mean"]) - statistics.fmean(gaps)) < 1e-5
        assert abs(float(r["gap_mean_std"]) - statistics.stdev(gaps)) < 1e-5
    accuracy = list(csv.DictReader(open(out / "accuracy_over_seeds.csv")))
    assert len(accuracy) == 2 * 2 * 2  # temperature x scheme x keep
    assert {r["scheme"] for r in accuracy} == {"conventional", "centroid"}
    md = (out / "over_seeds.md").read_text()
    assert "Mean ± sample std over 2 seeds" in md and "| 0.3 | centroid | analog | 0.5 |" in md


def test_a_field_added_after_a_cell_ran_does_not_rerun_it(tiny_raw, write_scenario, tmp_path):
    from semcom_sim.scenario import load_scenario
    from semcom_sim.pipeline import scenario_yaml
    from semcom_sim.report.folders import write_manifest
    from semcom_sim.sweep import cell_state

    sc = load_scenario(write_scenario(tiny_raw), [])
    cell = tmp_path / "cell"
    cell.mkdir()
    (cell / "results.csv").write_text("scheme\n")
    saved = yaml.safe_load(scenario_yaml(sc))
    # a run saved before these options existed: they are at their defaults, so it is still this cell
    del saved["channel"]["snr_reference"], saved["receiver"]["train_snr_db"]

    def saved_as(text: str) -> str:
        (cell / "scenario.yaml").write_text(text)
        write_manifest(cell)  # as the run that wrote it would have
        return cell_state(cell, sc)

    assert saved_as(yaml.safe_dump(saved)) == "finished"
    saved["receiver"]["train_snr_db"] = 0.0
    assert saved_as(yaml.safe_dump(saved)) == "stale"
    assert saved_as("name: [unclosed") == "stale"
