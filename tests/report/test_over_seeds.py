"""Means and spreads over the seeds of a sweep."""
import math
import statistics

from semcom_sim.report.over_seeds import group_over_seeds, mean_pm_std


def test_groups_by_every_key_but_the_seed():
    rows = [{"tau": "0.1", "seed": s, "scheme": sc, "acc": a, "note": "x"}
            for s, (sc, a) in enumerate([("c", 0.5), ("c", 0.7), ("z", 0.2)])]
    rows.append({"tau": "0.1", "seed": 3, "scheme": "z", "acc": 0.4, "note": "x"})
    out = group_over_seeds(rows, ["tau", "seed", "scheme"])
    assert [(r["tau"], r["scheme"], r["n_seeds"]) for r in out] == [("0.1", "c", 2), ("0.1", "z", 2)]
    assert math.isclose(out[0]["acc_mean"], 0.6) and math.isclose(out[0]["acc_std"], statistics.stdev([0.5, 0.7]))
    assert "note_mean" not in out[0] and "seed_mean" not in out[0]  # text and the seed are not averaged
    assert mean_pm_std(out[0], "acc", ".1f", 100) == "60.0 ± 14.1"
    assert mean_pm_std(out[0], "missing") == "-"


def test_one_seed_has_no_spread_and_gaps_or_infinities_are_not_averaged():
    one = group_over_seeds([{"k": 1, "v": 2.0}], ["k"])[0]
    assert (one["v_mean"], one["v_std"], mean_pm_std(one, "v")) == (2.0, 0.0, "2.000")
    rows = [{"k": 1, "fisher": math.inf, "ari": ""}, {"k": 1, "fisher": 3.0, "ari": 0.5}]
    g = group_over_seeds(rows, ["k"])[0]
    assert math.isnan(g["fisher_mean"]) and "ari_mean" not in g  # empty in one seed: not applicable
