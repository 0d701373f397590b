"""Sphinx directive ``scenario-fields``: the field tables of the scenario reference, generated from the
pydantic models (schema_fields.py walks them). A field without a description stops the build:
the schema is the reference's only source, so an undocumented field is a docs bug, not a blank cell.

    ```{scenario-fields} scenario
    ```

The argument names a group of schema_fields.all_sections(): ``scenario``, ``channel preset`` or
``link and scheme options``.
"""
from __future__ import annotations

import re

from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx.errors import ExtensionError

import schema_fields

COLUMNS = (("field", 14), ("type", 18), ("default", 12), ("allowed", 16), ("description", 40))
_CODE = re.compile(r"``(.+?)``|`(.+?)`")


def inline(text: str) -> list[nodes.Node]:
    """Plain text with ``code`` and `code` spans as literals (docstrings and descriptions use both)."""
    out: list[nodes.Node] = []
    pos = 0
    for m in _CODE.finditer(text):
        if m.start() > pos:
            out.append(nodes.Text(text[pos:m.start()]))
        out.append(nodes.literal(text=m.group(1) or m.group(2)))
        pos = m.end()
    if pos < len(text):
        out.append(nodes.Text(text[pos:]))
    return out


def table(rows: tuple[schema_fields.FieldRow, ...]) -> nodes.table:
    tab = nodes.table(classes=["scenario-fields"])
    group = nodes.tgroup(cols=len(COLUMNS))
    tab += group
    for _, width in COLUMNS:
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    group += head
    row = nodes.row()
    for title, _ in COLUMNS:
        row += nodes.entry("", nodes.paragraph(text=title))
    head += row
    body = nodes.tbody()
    group += body
    for r in rows:
        row = nodes.row()
        cells = ([nodes.literal(text=r.name)], [nodes.Text(r.type)],
                 [nodes.literal(text=r.default)] if r.default not in ("", "required", "its defaults")
                 else [nodes.Text(r.default)], inline(r.allowed), inline(r.description))
        for cell in cells:
            row += nodes.entry("", nodes.paragraph("", "", *cell))
        body += row
    return tab


class ScenarioFields(Directive):
    required_arguments = 1
    final_argument_whitespace = True

    def run(self) -> list[nodes.Node]:
        group = self.arguments[0].strip()
        groups = schema_fields.all_sections()
        if group not in groups:
            raise self.error(f"unknown group {group!r}; known: {', '.join(groups)}")
        missing = [m for s in groups[group] for m in s.undescribed()]
        if missing:
            # an exception, not a warning: the build fails with or without -W
            raise ExtensionError(f"scenario reference: fields without a description (add "
                                 f"Field(..., description=...) to the model): {', '.join(missing)}")
        out: list[nodes.Node] = []
        for s in groups[group]:
            ident = nodes.make_id(f"{group}-{s.title}")
            section = nodes.section(ids=[ident])
            section += nodes.title(text=s.title)
            if s.intro:
                for para in s.intro.split("\n\n"):
                    section += nodes.paragraph("", "", *inline(" ".join(para.split())))
            section += table(s.rows) if s.rows else nodes.paragraph(text="No options.")
            out.append(section)
        return out


def setup(app):
    app.add_directive("scenario-fields", ScenarioFields)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
