"""One registry per kind of component, filled by a decorator, so YAML names components."""
from __future__ import annotations

import inspect
from typing import Any, Callable, Collection, Generic, Iterator, TypeVar

from .errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, base: type | None = None):
        self.kind = kind
        self.base = base  # when given, every entry is a class derived from it
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            if self.base is not None and not (isinstance(obj, type) and issubclass(obj, self.base)):
                # found at import time, not as an AttributeError halfway through a run
                raise TypeError(f"{self.kind} {name!r} must subclass {self.base.__name__}")
            self._entries[name] = obj
            return obj

        return deco

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def check_options(self, name: str, options: dict[str, Any], *, source: str, field: str,
                      exclude: Collection[str] = ()) -> None:
        """Reject keywords the registered constructor does not take, before anything is built.

        ``exclude`` names keywords it does take that the caller passes itself (a channel's
        ``device`` and ``precision``): they are refused as options too, and not listed as allowed.
        """
        sig = inspect.signature(self._entries[name])
        params = {k: p for k, p in sig.parameters.items() if k not in exclude}
        open_ended = any(p.kind is p.VAR_KEYWORD for p in params.values())
        for key in options:
            p = params.get(key)
            if key in exclude or (not open_ended and (p is None or p.kind is p.POSITIONAL_ONLY)):
                allowed = [k for k, q in params.items() if q.kind is q.KEYWORD_ONLY]
                what = "set by the run, not an option" if key in exclude else "unknown option"
                raise UserError(f"{what} (allowed: {', '.join(allowed) or 'none'})",
                                source=source, field=f"{field}.{key}")
