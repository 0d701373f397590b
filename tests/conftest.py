"""Shared fixtures: one data cache per test session, and tiny scenarios written on the fly."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent

# scenarios/tiny.yaml is the one copy (the benchmarks' smoke modes read it too); tests change fields
# on a deep copy of it, never on TINY itself
TINY = yaml.safe_load((REPO / "scenarios" / "tiny.yaml").read_text())


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def tiny_raw(cache_dir) -> dict:
    raw = copy.deepcopy(TINY)
    raw["data"]["cache_dir"] = str(cache_dir)
    return raw


@pytest.fixture
def write_scenario(tmp_path):
    def write(raw: dict, name: str = "scenario.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        return path

    return write


def refused(args: list[str]) -> str:
    """Run the CLI, expect exit 2 and exactly one line on stderr, no traceback; return that line
    (the tests of user errors import it: ``from conftest import refused``)."""
    from typer.testing import CliRunner

    from semcom_sim.cli import app

    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2, (res.exit_code, res.output, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.output
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes: equal before and after means nothing changed."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def hidden(parent: Path) -> list[str]:
    """The hidden entries of ``parent`` (staging folders, temporary files left behind)."""
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]
