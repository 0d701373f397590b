"""Reading scenario, preset and experiment files: hardened YAML (size, alias-expansion, depth and
duplicate-key bounds), ``--set`` overrides, and pydantic errors as one line naming the field.

:func:`parse_scenario` only parses and validates the schema; :func:`semcom_sim.scenario.load_scenario`
also checks the scenario against the registries and budgets.
"""
from __future__ import annotations

import copy
import stat
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import UserError
from .fields import Frozen
from .schema import Scenario

# A scenario, preset or experiment file is a few kilobytes; these bound what a hostile or broken one
# can cost before validation refuses it.
MAX_FILE_BYTES = 1 << 20
MAX_YAML_VALUES = 100_000  # nodes once aliases are expanded (an alias bomb expands exponentially)
MAX_YAML_TEXT = 4 << 20  # characters of strings once aliases are expanded
MAX_YAML_DEPTH = 64


def _read_text(path: Path) -> str:
    """The file's text: a regular file of at most MAX_FILE_BYTES, UTF-8; anything else is a UserError."""
    src = str(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise UserError("file not found", source=src) from None
    except OSError as e:
        raise UserError(f"cannot read: {e.strerror or e}", source=src) from None
    if stat.S_ISDIR(st.st_mode):
        raise UserError("is a folder, not a YAML file", source=src)
    if not stat.S_ISREG(st.st_mode):
        raise UserError("is not a regular file", source=src)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)  # never more, whatever the file's size
    except OSError as e:
        raise UserError(f"cannot read: {e.strerror or e}", source=src) from None
    if len(data) > MAX_FILE_BYTES:
        raise UserError(f"file is larger than {MAX_FILE_BYTES >> 20} MiB; a scenario or experiment file is a few "
                        "kilobytes", source=src)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"not a UTF-8 text file (byte 0x{data[e.start]:02x} at offset {e.start})", source=src) from None


def _check_expansion(data: Any, source: str, field: str | None = None) -> None:
    """Refuse YAML whose aliases expand beyond MAX_YAML_VALUES nodes or MAX_YAML_TEXT characters, or
    nest deeper than MAX_YAML_DEPTH (a recursive alias). The walk visits every reference to a shared
    node again, as validation and copies would, and stops as soon as a bound is passed."""
    nodes, text = 1, 0
    stack = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (str, bytes)):
            text += len(node)
        elif isinstance(node, (dict, list)):
            if depth >= MAX_YAML_DEPTH:
                raise UserError(f"the YAML nests more than {MAX_YAML_DEPTH} levels deep (a recursive alias?)",
                                source=source, field=field)
            children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
            nodes += len(children)
            if nodes <= MAX_YAML_VALUES:
                stack += [(c, depth + 1) for c in children]
        if nodes > MAX_YAML_VALUES or text > MAX_YAML_TEXT:
            raise UserError(f"the YAML holds more than {MAX_YAML_VALUES:,} values or {MAX_YAML_TEXT >> 20} MiB of text "
                            "once its aliases are expanded (an alias bomb?)", source=source, field=field)


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader refusing a key given twice in one mapping, where PyYAML keeps the last value
    silently (a second ``epochs:`` further down would quietly replace the first)."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._checked: set[yaml.MappingNode] = set()

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        # flattening puts the merged (<<) keys before the node's own, which may override them: a
        # node's own keys are checked once, before its first flattening
        if node not in self._checked:
            self._checked.add(node)
            first: dict[Any, int] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag in (
                        "tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"):
                    continue
                key = self.construct_object(key_node)
                if key in first:  # the error's mark names the second one's line
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} is given twice in one mapping (first at line {first[key]})",
                        key_node.start_mark)
                first[key] = key_node.start_mark.line + 1
        super().flatten_mapping(node)


def _load_yaml(text: str, source: str, field: str | None = None) -> Any:
    """yaml.safe_load, refusing duplicate keys, with every failure as a one-line UserError, and the
    expansion bounds checked."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.reader.ReaderError as e:
        char = e.character if isinstance(e.character, int) else ord(e.character)
        raise UserError(f"invalid YAML: {e.reason} (character #x{char:04x} at offset {e.position})",
                        source=source, field=field) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else None
        problem = getattr(e, "problem", None) or "invalid YAML"
        raise UserError(f"invalid YAML: {problem}", source=source, field=field or where) from None
    except RecursionError:
        raise UserError("invalid YAML: nested too deeply", source=source, field=field) from None
    except ValueError as e:  # an integer of more than 4,300 digits (sys.get_int_max_str_digits)
        what = "a number has too many digits" if "digits" in str(e) else str(e).splitlines()[0]
        raise UserError(f"invalid YAML: {what}", source=source, field=field) from None
    _check_expansion(data, source, field)
    return data


def read_yaml(path: Path) -> dict:
    """A YAML file whose top level is a mapping, read within the bounds above."""
    text = _read_text(path)
    if not text.strip():
        raise UserError("the file is empty", source=str(path))
    raw = _load_yaml(text, str(path))
    if raw is None:
        raise UserError("holds no YAML document (only comments?)", source=str(path))
    if not isinstance(raw, dict):
        raise UserError("top level must be a mapping", source=str(path))
    return raw


# fields of earlier versions that now live elsewhere: refused as unknown keys, with where they went
MOVED_FIELDS = {
    "transmitter.digital": "moved: the digital link's options go with the link, links: [..., {name: digital, "
                           "options: {bits: 4, code_rate: 0.5, bits_per_symbol: 4, ldpc_iterations: 20}}]",
}

_WRONG_CONTAINER = {"tuple_type", "list_type", "dict_type", "model_type", "model_attributes_type", "is_instance_of"}


def _model_names(cls: type = Frozen) -> set[str]:
    names = {cls.__name__}
    for sub in cls.__subclasses__():
        names |= _model_names(sub)
    return names


def validation_error(err: ValidationError, source: str, prefix: str | None = None) -> UserError:
    """The first error of a pydantic validation as one line naming the dotted field (under
    ``prefix`` when the model validated is part of a larger file)."""
    errors = err.errors()
    # a union (snr_db: list or range) reports each branch; the branch that matched the input's
    # shape is the one whose error is not "wrong container"
    first = next((e for e in errors if e["type"] not in _WRONG_CONTAINER), errors[0])
    tags = _model_names()
    loc = ".".join(str(p) for p in first["loc"]
                   if not str(p).startswith(("function-", "tuple[", "list[", "dict[")) and str(p) not in tags)
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = MOVED_FIELDS.get(loc, "unknown key")
    elif first["type"] == "missing":
        msg = "required field is missing"
    elif "input" in first and not isinstance(first["input"], (dict, list)):
        msg = f"{msg} (got {first['input']!r})"
    loc = ".".join(p for p in (prefix, loc) if p)
    return UserError(msg, source=source, field=loc or None)


def parse_override(item: str) -> tuple[str, Any]:
    """``"training.temperature=0.01"`` -> ``("training.temperature", 0.01)`` (value parsed as YAML)."""
    if "=" not in item:
        raise UserError("expected dotted.key=value", source="--set", field=item)
    key, value = item.split("=", 1)
    key = key.strip()
    if not key:
        raise UserError(f"{item!r}: the key before '=' is empty (expected dotted.key=value)", source="--set")
    if any(not p.strip() for p in key.split(".")):
        raise UserError(f"{item!r}: the dotted key {key!r} has an empty part (expected e.g. training.epochs=5)",
                        source="--set")
    return key, _load_yaml(value, "--set", key)


def apply_overrides(raw: dict, overrides: list[tuple[str, Any]]) -> dict:
    out = copy.deepcopy(raw)
    for key, value in overrides:
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            nxt = node.get(p)
            if nxt is None:
                nxt = node[p] = {}
            if not isinstance(nxt, dict):
                raise UserError("cannot set a field inside a non-mapping", source="--set", field=key)
            node = nxt
        node[parts[-1]] = value
    return out


def _absolute_dirs(raw: dict, base: Path) -> dict:
    """Data-source options named ``*_dir`` or ``*_path`` given as relative paths are relative to
    ``base`` (the scenario file's folder, or the working directory for --set), so a scenario runs
    from anywhere."""
    options = (raw.get("data") or {}).get("options")
    if isinstance(options, dict):
        for key, value in options.items():
            if key.endswith(("_dir", "_path")) and isinstance(value, str) and not Path(value).expanduser().is_absolute():
                options[key] = str((base / value).resolve())
    return raw


def parse_scenario(path: str | Path, overrides: list[str] | None = None) -> Scenario:
    """Parse a scenario file and validate it against the schema; ``overrides`` are
    ``dotted.key=value`` strings. Names and budgets are not checked here: use
    :func:`semcom_sim.scenario.load_scenario` for a scenario about to run."""
    path = Path(path)
    raw = _absolute_dirs(read_yaml(path), path.parent)
    raw = _absolute_dirs(apply_overrides(raw, [parse_override(o) for o in overrides or []]), Path.cwd())
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as e:
        raise validation_error(e, str(path)) from None
    return scenario


