"""Sphinx configuration of the semcom-sim manual.

Build (from the repository root): python -m sphinx -W --keep-going -b html docs docs/_build/html
The tutorials (docs/tutorials/*.md, MyST text notebooks) are executed at every build.
"""
from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path[:0] = [str(DOCS.parent), str(DOCS / "_ext")]  # the checkout's package, then our extensions

import semcom_sim  # noqa: E402

project = "semcom-sim"
author = "the semcom-sim authors"
copyright = "the semcom-sim authors"  # noqa: A001  (Sphinx's name)
release = version = semcom_sim.__version__

extensions = [
    "myst_nb",  # MyST Markdown pages and executed text notebooks (includes myst_parser)
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "scenario_reference",  # docs/_ext: the scenario fields from the pydantic models
    "cli_reference",  # docs/_ext: the CLI from the typer app
]

exclude_patterns = ["_build", "jupyter_execute", ".jupyter_cache", "**.ipynb_checkpoints"]
source_suffix = {".md": "myst-nb"}
root_doc = "index"

myst_enable_extensions = ["colon_fence", "dollarmath", "amsmath", "deflist"]
myst_heading_anchors = 3

# Tutorials run at every build, with a failing cell failing the build
nb_execution_mode = "force"
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
# stderr holds only warnings of imported libraries (tqdm without ipywidgets, Jupyter's kernel); a
# failing cell still fails the build
nb_output_stderr = "remove"

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}

html_theme = "furo"
html_title = f"semcom-sim {release}"
html_static_path: list[str] = []
