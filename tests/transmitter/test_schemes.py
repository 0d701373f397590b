"""Transmission schemes from the registry: payload shapes, what each decoder reads, side bits, and
a scheme the report has never heard of running end to end."""
import csv
import math

import pytest
import torch
from typer.testing import CliRunner

from semcom_sim.cli import app
from semcom_sim.transmitter.payload import build_payload
from semcom_sim.transmitter.schemes import SCHEMES, centroid, get_scheme


def _z(n=50, d=8, m=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {f"m{i}": torch.nn.functional.normalize(torch.randn(n, d, generator=g), dim=-1) for i in range(m)}


@pytest.mark.parametrize("name", SCHEMES.names())
def test_every_scheme_builds_its_declared_payload(name):
    z, idx = _z(), torch.tensor([0, 3, 5])
    scheme = get_scheme(name)
    p = build_payload(z, get_scheme(name), idx)
    assert p.shape == (50, scheme.vectors(3), 3)
    assert all(0 <= scheme.decoder_vector(i, 3) < scheme.vectors(3) for i in range(3))


def test_centroid_residual_sends_the_farthest_modality():
    z = _z()
    p = build_payload(z, get_scheme("centroid_residual"), torch.arange(8))
    mu = centroid(z)
    assert torch.allclose(p[:, 0], mu)
    dist = torch.stack([(v - mu).norm(dim=-1) for v in z.values()])  # [M, N]
    far = dist.argmax(0)
    expected = torch.stack([list(z.values())[k][i] for i, k in enumerate(far.tolist())])
    assert torch.equal(p[:, 1], expected)
    assert get_scheme("centroid_residual").side_bits(3) == 2 and get_scheme("centroid_residual").side_bits(4) == 2
    assert get_scheme("centroid").side_bits(3) == 0


def test_a_new_scheme_runs_end_to_end_with_decoders(tiny_raw, write_scenario, tmp_path):
    tiny_raw["data"]["limit"] = 200
    tiny_raw["training"]["epochs"] = 2
    tiny_raw["transmitter"] = {"schemes": ["conventional", "centroid", "centroid_residual"], "rfs_keep": [1.0, 0.5]}
    tiny_raw["channel"] = {"presets": ["awgn"], "snr_db": [0.0, 20.0], "mc_draws": 1}
    tiny_raw["receiver"] = {"reconstruction": {"decoders": {"image": {"name": "image_mlp"}}, "epochs": 2}}
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["run", str(write_scenario(tiny_raw)), "--out", str(out)])
    assert res.exit_code == 0, res.output + res.stderr
    rows = list(csv.DictReader(open(out / "results.csv")))
    mine = [r for r in rows if r["scheme"] == "centroid_residual"]
    cent = {(r["rfs_keep"], r["channel"], r["snr_db"]): r for r in rows if r["scheme"] == "centroid"}
    assert len(mine) == 2 * 3  # two keep fractions x (noiseless + 2 SNR points)
    for r in mine:
        assert int(r["tti"]) == 2 * int(cent[r["rfs_keep"], r["channel"], r["snr_db"]]["tti"])
        assert r["bits"] == str(math.ceil(math.log2(3)))
        assert 0.0 < float(r["mae_image"]) < 1.0  # its image decoder reads vector 0, the centroid
    assert (out / "accuracy_vs_snr_analog.png").is_file() and (out / "reconstructions.png").is_file()


def test_an_unknown_scheme_is_a_user_error(tiny_raw, write_scenario):
    tiny_raw["transmitter"]["schemes"] = ["centroid", "hologram"]
    res = CliRunner().invoke(app, ["validate", str(write_scenario(tiny_raw))])
    assert res.exit_code == 2 and "transmitter.schemes" in res.stderr and "hologram" in res.stderr
