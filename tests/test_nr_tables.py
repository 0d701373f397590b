"""The BLER tables shipped with the package (``semcom_sim/links/nr_tables/``, built by
``scripts/build_bler_tables.py``): read before the cache, checked against their names, and equal to
what the recipe builds here. At the recipe's own budget, unlike tests/test_nr_link.py's small tables."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import semcom_sim.links.nr_abstraction as tables
from semcom_sim.errors import BrokenInstall


def _shipped() -> list[tuple[tuple[int, int, int, int], Path]]:
    out = []
    for path in sorted(tables.SHIPPED_TABLES.glob("*.json")):
        q, k, n, it = re.match(r"q(\d+)-k(\d+)-n(\d+)-it(\d+)-", path.name).groups()
        out.append(((int(q), int(k), int(n), int(it)), path))
    return out


def test_every_shipped_table_is_its_codes_on_the_recipes_grid_and_named_by_its_key():
    shipped = _shipped()
    assert len(shipped) >= 16  # the media headline's codes on digits and numbers (docs/guide/media.md)
    for code, path in shipped:
        assert path.name == f"{tables.table_key(*code)}.json"
        with open(path, "rb") as f:
            value = tables.read_table(f)
        tables._check_code(value, *code)
        assert value["bler"][0] >= tables.TABLE_EDGE_LOW and value["bler"][-1] == 0.0
        # a BLER curve falls: no point is above the one 0.5 dB before it by more than its sampling error
        assert all(b <= a + 0.05 for a, b in zip(value["bler"], value["bler"][2:])), path.name


def test_a_shipped_table_is_read_before_the_cache_and_never_built(tmp_path, monkeypatch):
    def simulate(*a, **k):
        raise AssertionError("a shipped table was built")

    monkeypatch.setattr(tables, "simulate_table", simulate)
    monkeypatch.setenv("SEMCOM_SIM_CACHE", str(tmp_path))
    tables.bler_table.cache_clear()
    code, path = _shipped()[0]
    with open(path, "rb") as f:
        expected = tables.read_table(f)["bler"]
    assert tables.bler_table(*code).values.tolist() == expected
    assert not (tmp_path / "nr-bler").exists()  # nothing cached
    tables.bler_table.cache_clear()


def test_a_shipped_table_that_is_not_its_names_code_is_a_broken_install(tmp_path, monkeypatch):
    (code, path), (other, _) = _shipped()[:2]
    monkeypatch.setattr(tables, "SHIPPED_TABLES", tmp_path)
    monkeypatch.setenv("SEMCOM_SIM_CACHE", str(tmp_path / "cache"))
    (tmp_path / f"{tables.table_key(*other)}.json").write_bytes(path.read_bytes())
    tables.bler_table.cache_clear()
    with pytest.raises(BrokenInstall, match=f"{tables.table_key(*other)}.json: not the BLER table of {other[1]}-bit"):
        tables.bler_table(*other)
    (tmp_path / f"{tables.table_key(*other)}.json").write_text("{")
    tables.bler_table.cache_clear()
    with pytest.raises(BrokenInstall, match="reinstall"):
        tables.bler_table(*other)
    tables.bler_table.cache_clear()


@pytest.mark.slow
def test_a_shipped_table_built_on_a_gpu_is_the_one_the_cpu_builds():
    """The smallest shipped table, rebuilt here on the CPU from the recipe (75 s on 2 cores): the same
    values, point for point (the draws are the CPU generator's, and the GPU decides every block as
    the CPU does)."""
    (code, path), = [(c, p) for c, p in _shipped() if c == (4, 240, 452, 20)]
    with open(path, "rb") as f:
        shipped = tables.read_table(f)
    built = tables.simulate_table(*code, device="cpu")
    assert built["bler"] == shipped["bler"] and built["snr_db"] == shipped["snr_db"]


def test_a_broken_install_is_one_line_and_exit_1_not_a_traceback(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import semcom_sim.pipeline as pipeline
    from semcom_sim.cli import app

    def broken(*a, **k):
        raise BrokenInstall("/site/semcom_sim/links/nr_tables/x.json: not a BLER table; reinstall semcom-sim")

    monkeypatch.setattr(pipeline, "run", broken)
    res = CliRunner().invoke(app, ["run", "scenarios/tiny.yaml", "--out", str(tmp_path / "out")])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert res.stderr.strip().splitlines() == [
        "semcom-sim: scenarios/tiny.yaml: /site/semcom_sim/links/nr_tables/x.json: not a BLER table; reinstall semcom-sim"]
    assert not (tmp_path / "out").exists()

