"""Our losses, gap and schedules against the values of the papers' authors' public code
(ispamm/ModGap, commit 936161c) on stored inputs: ../shared/fixtures (README.md there)."""
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from semcom_sim.scenario.training import MODGAP_ALIGNMENT, MODGAP_UNIFORMITY, GapLossConfig
from semcom_sim.latent import modality_gap
from semcom_sim.training.losses import alignment_loss, atp_loss, cu_loss, info_nce

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures"
pytestmark = pytest.mark.skipif(not (FIXTURES / "modgap_reference.json").is_file()
                                or not (FIXTURES / "modgap_reference.npz").is_file(),
                                reason=f"the ModGap reference fixtures are not in {FIXTURES}")


@pytest.fixture(scope="module")
def ref():
    return json.loads((FIXTURES / "modgap_reference.json").read_text())


@pytest.fixture(scope="module")
def z():
    with np.load(FIXTURES / "modgap_reference.npz") as f:
        return {m: torch.from_numpy(f[m]) for m in ("image", "audio", "text")}  # float64 [64, 32]


def test_every_reference_value_is_checked(ref):
    # a value added to the fixture must get a check below
    handled = {"infonce_image_text_tau", "lalign_", "lunif_normalized_centroids_", "gap_"}
    assert all(any(k.startswith(h) for h in handled) for k in ref["values"]), sorted(ref["values"])


def test_info_nce_matches(ref, z):
    taus = [k.removeprefix("infonce_image_text_tau") for k in ref["values"] if k.startswith("infonce_")]
    assert len(taus) == 4
    for tau in taus:
        ours = float(info_nce(z["image"], z["text"], float(tau)))
        assert ours == pytest.approx(ref["values"][f"infonce_image_text_tau{tau}"], rel=1e-12, abs=1e-12), tau


def test_alignment_matches(ref, z):
    for key in [k for k in ref["values"] if k.startswith("lalign_")]:
        a, b = key.removeprefix("lalign_").split("_")
        pair = {a: z[a], b: z[b]}
        expected = ref["values"][key]
        assert float(atp_loss(pair, a)) == pytest.approx(expected, rel=1e-12, abs=1e-12), key
        # the anchor and pairwise forms are the same for two modalities
        assert float(alignment_loss(pair, None, "pairwise")) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_centroid_uniformity_matches_up_to_log_b_minus_1(ref, z):
    # the paper's L_CU sums over j != i and divides by B; the code takes the mean over pairs i < j:
    # they differ by the constant log(B - 1)
    shift = math.log(z["image"].shape[0] - 1)
    two = float(cu_loss({"image": z["image"], "text": z["text"]})) - shift
    three = float(cu_loss(z)) - shift
    assert two == pytest.approx(ref["values"]["lunif_normalized_centroids_image_text"], rel=1e-12, abs=1e-12)
    assert three == pytest.approx(ref["values"]["lunif_normalized_centroids_3modal"], rel=1e-12, abs=1e-12)


def test_gap_matches(ref, z):
    for key in [k for k in ref["values"] if k.startswith("gap_")]:
        a, b = key.removeprefix("gap_").split("_")
        assert modality_gap(z[a], z[b]) == pytest.approx(ref["values"][key], rel=1e-12, abs=1e-12), key


def test_modgap_schedules_match_per_epoch(ref):
    s = ref["schedules"]
    total = s["epochs"][-1]  # 100 epochs: epoch e is at fraction e / 100
    cfg = GapLossConfig(enabled=True, recipe="modgap")
    for epoch, alpha, beta in zip(s["epochs"], s["alpha_by_epoch"], s["beta_by_epoch"], strict=True):
        assert MODGAP_ALIGNMENT.at(epoch / total) == pytest.approx(alpha, abs=1e-12), epoch
        assert MODGAP_UNIFORMITY.at(epoch / total) == pytest.approx(beta, abs=1e-12), epoch
        assert cfg.weights(epoch / total) == pytest.approx((alpha, beta), abs=1e-12)
    # the same schedule as a custom recipe
    custom = GapLossConfig(enabled=True, recipe="custom", alignment_weight=MODGAP_ALIGNMENT.model_dump(),
                           uniformity_weight=MODGAP_UNIFORMITY.model_dump())
    assert all(custom.weights(e / total) == cfg.weights(e / total) for e in range(total + 1))
