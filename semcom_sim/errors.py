"""User-facing errors: one line, naming the file and the field, exit code 2."""
from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input (scenario, CLI option, data directory).

    The CLI prints ``str(err)`` as a single line on stderr and exits with code 2;
    no traceback is shown because nothing is wrong with the program.
    """

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None):
        self.source = source
        self.field = field
        parts = [p for p in (source, field) if p]
        prefix = ": ".join(parts)
        text = f"{prefix}: {message}" if prefix else message
        # one line whatever a path or a value holds: a newline in a folder name is legal
        super().__init__("".join(c if c.isprintable() else repr(c)[1:-1] for c in text))


class TrainingDiverged(RuntimeError):
    """Raised when a loss becomes NaN or infinite during training."""


class BrokenInstall(RuntimeError):
    """A file the package ships is not what it should be (edited or truncated since installing): the
    run cannot go on and reinstalling mends it. The CLI prints one line naming the file, exit code 1."""
