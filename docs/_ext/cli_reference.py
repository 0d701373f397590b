"""Sphinx directive ``typer-cli``: the command-line reference, generated from the typer app that the
``semcom-sim`` command runs (``typer.main.get_command``), so it cannot drift from it.

    ```{typer-cli} semcom_sim.commands:app
    :prog: semcom-sim
    ```

Written by hand because sphinx-click documents only the ``click`` package's commands, and typer
(0.29, the pinned one) builds its commands on a copy of click of its own (``typer._click``), which
sphinx-click refuses ("is not click.Command or click.Group"). It reads the same things
sphinx-click does through the click API that typer keeps: usage, help text and each parameter's
help record (its flags, type, default and range, as ``--help`` prints them).
"""
from __future__ import annotations

import importlib

import typer
from docutils import nodes
from docutils.parsers.rst import Directive, directives


def _context(command, name: str, parent=None):
    return command.context_class(command, info_name=name, parent=parent)


def _command_section(command, ctx, prog: str, name: str | None) -> nodes.section:
    title = f"{prog} {name}" if name else prog
    section = nodes.section(ids=[nodes.make_id(title)])
    section += nodes.title(text=title)
    text = (command.help or "").strip()
    for para in text.split("\n\n"):
        if para.strip():
            section += nodes.paragraph(text=" ".join(para.split()))
    usage = command.get_usage(ctx).replace("Usage: ", "", 1)
    section += nodes.literal_block(usage, usage, language="text")
    records = [r for r in (p.get_help_record(ctx) for p in command.get_params(ctx)) if r]
    if records:
        items = nodes.definition_list()
        for flags, help_text in records:
            item = nodes.definition_list_item()
            item += nodes.term("", "", nodes.literal(text=flags))
            item += nodes.definition("", nodes.paragraph(text=help_text))
            items += item
        section += items
    return section


class TyperCli(Directive):
    required_arguments = 1
    option_spec = {"prog": directives.unchanged_required}

    def run(self) -> list[nodes.Node]:
        module, _, attr = self.arguments[0].partition(":")
        app = getattr(importlib.import_module(module), attr)
        prog = self.options.get("prog", "cli")
        group = typer.main.get_command(app)
        ctx = _context(group, prog)
        out = []
        if not hasattr(group, "list_commands"):  # a single command
            return [_command_section(group, ctx, prog, None)]
        for name in group.list_commands(ctx):
            sub = group.get_command(ctx, name)
            out.append(_command_section(sub, _context(sub, name, ctx), prog, name))
        return out


def setup(app):
    app.add_directive("typer-cli", TyperCli)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
