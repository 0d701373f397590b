"""The package cites docs/method.md by section title ("docs/method.md, section 'The physical
limit'"): every title cited must be a heading of that page, so renaming a section cannot leave a
docstring pointing nowhere, and nothing may cite the outside METHOD.md any more."""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CITED = ("semcom_sim", "experiments", "scenarios")


def _sources() -> dict[Path, str]:
    out = {}
    for folder in CITED:
        for p in sorted((REPO / folder).rglob("*")):
            if p.suffix in (".py", ".yaml"):
                out[p] = p.read_text(encoding="utf-8")
    return out


def test_every_cited_method_section_exists():
    headings = set(re.findall(r"^#{1,4} (.+?)\s*$", (REPO / "docs" / "method.md").read_text(encoding="utf-8"),
                              flags=re.M))
    cited = {}
    for path, text in _sources().items():
        # a citation runs from "docs/method.md" to the end of its sentence; join wrapped lines first
        flat = re.sub(r"\s*\n\s*(#|\"\"\"|)\s*", " ", text)
        for m in re.finditer(r"docs/method\.md[^.]*", flat):
            for title in re.findall(r"'([^']+)'", m.group(0)):
                cited.setdefault(title, []).append(path.relative_to(REPO))
    assert len(cited) >= 6, cited
    missing = {t: [str(p) for p in ps] for t, ps in cited.items() if t not in headings}
    assert not missing, (missing, sorted(headings))


def test_nothing_cites_the_outside_method_file():
    stale = [str(p.relative_to(REPO)) for p, text in _sources().items() if "METHOD.md" in text]
    assert not stale, stale
