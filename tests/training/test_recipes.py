"""Gap-loss recipes, loss-weight schedules and the learning-rate schedule (issue 11)."""
import math

import pytest
import torch
import torch.nn.functional as F

from conftest import refused
from semcom_sim.scenario import Scenario
from semcom_sim.scenario.training import GapLossConfig, WeightSchedule
from semcom_sim.training.losses import alignment_loss, atp_loss, cu_loss, pairwise_alignment_loss, total_loss
from semcom_sim.training.loop import lr_factor
from semcom_sim.training.trainer import cache_key


def _unit(*shape, seed=0):
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_schedules_scale_with_the_number_of_epochs():
    lin = WeightSchedule(schedule="linear", weight=1.0, end_weight=0.0, start=0.2, end=0.7)
    # 10 epochs or 100: the same weight at the same fraction of training
    assert [lin.at(e / 10) for e in range(10)] == pytest.approx([lin.at(10 * e / 100) for e in range(10)])
    assert lin.at(0.0) == lin.at(0.2) == 1.0 and lin.at(0.45) == pytest.approx(0.5) and lin.at(0.9) == 0.0
    assert WeightSchedule(weight=0.3).at(0.99) == 0.3


def test_recipes_weights():
    assert GapLossConfig().weights(0.5) == (0.0, 0.0)  # disabled
    assert GapLossConfig(enabled=True, weight=3.0).weights(0.9) == (3.0, 3.0)  # paper: constant lambda
    modgap = GapLossConfig(enabled=True, recipe="modgap")
    assert modgap.weights(0.0) == (1.0, 1.0) and modgap.weights(0.75) == pytest.approx((1.5, 0.0))
    custom = GapLossConfig(enabled=True, recipe="custom", alignment_weight={"weight": 2.0},
                           uniformity_weight={"schedule": "linear", "weight": 0.5, "end_weight": 0.0,
                                              "start": 0.0, "end": 1.0})
    assert custom.weights(0.5) == (2.0, 0.25)


def test_pairwise_alignment_averages_every_pair():
    z = {"a": _unit(16, 8), "b": _unit(16, 8, seed=1), "c": _unit(16, 8, seed=2)}
    d = {p: (z[p[0]] - z[p[1]]).square().sum(-1).mean() for p in ("ab", "ac", "bc")}
    assert torch.isclose(pairwise_alignment_loss(z), (d["ab"] + d["ac"] + d["bc"]) / 3)
    assert torch.isclose(alignment_loss(z, "a", "anchor"), (d["ab"] + d["ac"]) / 2)
    with pytest.raises(ValueError, match="unknown alignment form"):
        alignment_loss(z, "a", "star")


def test_total_loss_with_separate_weights():
    z = {"a": _unit(16, 8), "b": _unit(16, 8, seed=1), "c": _unit(16, 8, seed=2)}
    base, _ = total_loss(z, 0.1)
    loss, parts = total_loss(z, 0.1, 1.5, "a", 0.0, "pairwise")
    assert torch.isclose(loss, base + 1.5 * pairwise_alignment_loss(z))
    assert {"atp", "cu"} <= set(parts)
    loss, _ = total_loss(z, 0.1, 0.0, "a", 2.0)  # uniformity alone
    assert torch.isclose(loss, base + 2.0 * cu_loss(z))
    # one weight for both: the paper's lambda (L_ATP + L_CU), bit for bit as before
    loss, _ = total_loss(z, 0.1, 0.7, "a", 0.7)
    assert torch.equal(loss, base + 0.7 * (atp_loss(z, "a") + cu_loss(z)))


def test_lr_factor():
    assert [lr_factor(s, 10, "constant", 0.0) for s in range(10)] == [1.0] * 10
    warm = [lr_factor(s, 10, "constant", 0.2) for s in range(10)]
    assert warm[:3] == [0.5, 1.0, 1.0]
    cos = [lr_factor(s, 10, "cosine", 0.2) for s in range(10)]
    assert cos[:3] == [0.5, 1.0, 1.0] and cos[-1] == pytest.approx(0.5 * (1 + math.cos(math.pi * 7 / 8)))
    assert all(a >= b for a, b in zip(cos[1:], cos[2:]))  # decreasing after the warm-up


def test_options_at_their_defaults_keep_the_cache_key(tiny_raw):
    base = Scenario.model_validate(tiny_raw)
    explicit = dict(tiny_raw, training={**tiny_raw["training"], "lr_schedule": "constant", "warmup_fraction": 0.0,
                                        "gap_loss": {"recipe": "paper", "alignment": "anchor"}})
    assert cache_key(Scenario.model_validate(explicit)) == cache_key(base)
    # a disabled gap loss trains the same whatever its recipe
    off = dict(tiny_raw, training={**tiny_raw["training"], "gap_loss": {"recipe": "modgap", "alignment": "pairwise"}})
    assert cache_key(Scenario.model_validate(off)) == cache_key(base)
    keys = {cache_key(base)}
    for training in ({"gap_loss": {"enabled": True}}, {"gap_loss": {"enabled": True, "recipe": "modgap"}},
                     {"gap_loss": {"enabled": True, "alignment": "pairwise"}}, {"lr_schedule": "cosine"},
                     {"warmup_fraction": 0.1}):
        keys.add(cache_key(Scenario.model_validate(dict(tiny_raw, training={**tiny_raw["training"], **training}))))
    assert len(keys) == 6


@pytest.mark.parametrize("override, field", [
    ("training.gap_loss.recipe=clip", "training.gap_loss.recipe"),
    ("training.gap_loss.alignment=star", "training.gap_loss.alignment"),
    ("training.gap_loss.alignment_weight={weight: 2}", "training.gap_loss.alignment_weight"),
    ("training.gap_loss.recipe=custom", "training.gap_loss.alignment_weight"),
    ("training.lr_schedule=step", "training.lr_schedule"),
    ("training.warmup_fraction=1.5", "training.warmup_fraction"),
])
def test_bad_values_are_one_line_errors_naming_the_field(tiny_raw, write_scenario, override, field):
    line = refused(["validate", str(write_scenario(tiny_raw)), "--set", override])
    assert f"{field}:" in line, line


@pytest.mark.parametrize("weight, message", [
    ({"schedule": "linear", "weight": 1.0}, "needs end_weight, start, end"),
    ({"schedule": "linear", "weight": 1.0, "end_weight": 0.0, "start": 0.7, "end": 0.2}, "must be below end"),
    ({"weight": 1.0, "start": 0.2}, "linear schedule only"),
    ({"weight": -1.0}, "greater than or equal to 0"),
])
def test_bad_schedules_are_refused(tiny_raw, write_scenario, weight, message):
    tiny_raw["training"]["gap_loss"] = {"enabled": True, "recipe": "custom", "alignment_weight": {"weight": 1.0},
                                        "uniformity_weight": weight}
    line = refused(["validate", str(write_scenario(tiny_raw))])
    assert "training.gap_loss.uniformity_weight" in line and message in line, line


def test_lambda_belongs_to_the_paper_recipe(tiny_raw, write_scenario):
    line = refused(["validate", str(write_scenario(tiny_raw)), "--set", "training.gap_loss.recipe=modgap",
                    "--set", "training.gap_loss.weight=3"])
    assert "training.gap_loss.weight:" in line and "recipe paper" in line


def test_modgap_trains_with_its_schedule_and_a_cosine_lr(tiny_raw, tmp_path, cache_dir):
    from semcom_sim.pipeline import load_data
    from semcom_sim.runtime import Runtime
    from semcom_sim.training import train_or_load

    tiny_raw["training"].update(epochs=5, lr_schedule="cosine", warmup_fraction=0.2,
                                gap_loss={"enabled": True, "recipe": "modgap", "alignment": "pairwise"})
    sc = Scenario.model_validate(tiny_raw)
    rt = Runtime.create("cpu", "float32", sc.seed)
    train, _ = load_data(sc, rt, cache_dir)
    history = train_or_load(sc, train, rt, tmp_path / "enc").history
    assert [h["w_align"] for h in history] == pytest.approx([1.0, 1.0, 1.0, 1.2, 1.6])
    assert [h["w_unif"] for h in history] == pytest.approx([1.0, 1.0, 0.6, 0.2, 0.0])
    assert all(math.isfinite(h["infonce"]) and {"atp", "cu"} <= set(h) for h in history)
