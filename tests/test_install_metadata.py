"""The supported Python versions are stated in three places that must agree: pyproject.toml's
requires-python (what pip enforces), the marker on every dependency (what makes pip before 25.1 say
so in one line), the README's quick start (its range) and the manual's "Supported Python versions"
section (docs/getting-started.md, with the line pip prints on any other Python). The interpreter running the suite must be inside."""
from __future__ import annotations

import platform
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parent.parent
MINORS = [f"3.{m}" for m in range(6, 21)]


def _project() -> dict:
    with open(REPO / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


def _spec() -> SpecifierSet:
    return SpecifierSet(_project()["requires-python"])


def _supported_minors() -> list[str]:
    spec = _spec()
    return [v for v in MINORS if spec.contains(f"{v}.0") and spec.contains(f"{v}.99")]


def _readme() -> str:
    return (REPO / "README.md").read_text(encoding="utf-8")


def _getting_started() -> str:
    return (REPO / "docs" / "getting-started.md").read_text(encoding="utf-8")


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    nxt = re.search(r"^#{1,3} ", text[start + len(heading):], flags=re.M)
    return text[start: start + len(heading) + (nxt.start() if nxt else len(text))]


def test_requires_python_is_whole_minor_versions():
    spec = _spec()
    supported = _supported_minors()
    assert supported, spec
    # No minor version is half in: each is either supported for every patch release or refused.
    for v in MINORS:
        assert spec.contains(f"{v}.0") == spec.contains(f"{v}.99"), (v, str(spec))
    # A contiguous range with an upper bound (the bound is what makes pip refuse in one line).
    first, last = MINORS.index(supported[0]), MINORS.index(supported[-1])
    assert supported == MINORS[first: last + 1]
    assert not spec.contains(f"{MINORS[last + 1]}.0")


def test_readme_and_manual_state_the_same_range():
    supported = _supported_minors()
    readme = _readme()
    # The quick start: "On a fresh machine with Python 3.11–3.13 ...", once.
    found = re.findall(r"On a fresh machine with Python (3\.\d+)–(3\.\d+)", readme)
    assert found == [(supported[0], supported[-1])], found
    section = _section(_getting_started(), "## Supported Python versions")
    # Its first sentence names every supported version: "CPython 3.11, 3.12 and 3.13:".
    listed = re.match(r"## Supported Python versions\s+CPython ([0-9., and]+?):", section)
    assert listed, section[:200]
    assert re.findall(r"3\.\d+", listed.group(1)) == supported
    assert f'`requires-python = "{_project()["requires-python"]}"`' in section
    # The line pip prints on an unsupported Python (pip prints the specifier set in this order).
    assert f"requires a different Python: 3.10.13 not in '{_spec()}'" in section
    assert "scripts/check_python_versions.sh" in section
    assert (REPO / "scripts" / "check_python_versions.sh").is_file()


def test_every_dependency_carries_the_range_as_a_marker():
    project = _project()
    spec = _spec()
    deps = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        deps += extra
    assert deps
    for dep in deps:
        req = Requirement(dep)
        assert req.marker is not None, f"{dep!r}: no python_version marker"
        for v in MINORS:
            env = {"python_version": v, "python_full_version": f"{v}.0"}
            assert req.marker.evaluate(env) == spec.contains(f"{v}.0"), (dep, v, str(spec))


def test_running_python_is_supported():
    assert _spec().contains(platform.python_version()), (platform.python_version(), str(_spec()))
