"""The public block API (semcom_sim.blocks): every public name carries a docstring example, and
every example runs and prints what its docstring says."""
from __future__ import annotations

import doctest

import pytest

from semcom_sim import blocks

FINDER = doctest.DocTestFinder(recurse=False)


def examples(name: str) -> list[doctest.DocTest]:
    return [t for t in FINDER.find(getattr(blocks, name), name) if t.examples]


def test_every_public_name_has_an_example():
    missing = [name for name in blocks.__all__ if not examples(name)]
    assert not missing, f"public names of semcom_sim.blocks without a '>>>' example in their docstring: {missing}"


def test_public_names_resolve():
    assert len(set(blocks.__all__)) == len(blocks.__all__)
    for name in blocks.__all__:
        assert getattr(blocks, name).__doc__, name


@pytest.mark.parametrize("name", ["blocks", *blocks.__all__])
def test_docstring_examples_run(name):
    obj = blocks if name == "blocks" else getattr(blocks, name)
    tests = [t for t in FINDER.find(obj, name) if t.examples]
    assert tests
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for t in tests:
        runner.run(t)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed (output above)"
