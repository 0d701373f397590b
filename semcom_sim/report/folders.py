"""Output folders that never touch what a user owns.

A run (or sweep) writes into a hidden staging folder beside its target and moves it into place
at the end. The program only ever replaces or writes into a folder that carries its own marker
file (``.semcom-sim-run`` / ``.semcom-sim-sweep``): a common name such as ``scenario.yaml``
proves nothing, since a user may keep one in their own folder.

Staging folders carry the writer's host and pid; one whose writer is gone (SIGKILL, power loss)
is removed by the next writer into the same parent folder, never one whose writer still runs.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Literal

from ..errors import UserError
from ..interrupts import cleanup_first

Kind = Literal["run", "sweep"]
MARKERS = {"run": ".semcom-sim-run", "sweep": ".semcom-sim-sweep"}
_STAGING_SUFFIX = ".semcom-tmp"
_OWNER = ".semcom-sim-owner"


def is_marked(folder: Path, kind: Kind) -> bool:
    return (folder / MARKERS[kind]).is_file()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_target(out_dir: Path, kind: Kind) -> None:
    """Refuse, before any work, a target this program may not write: an existing file, a foreign
    non-empty folder, or a place where nothing can be created."""
    out_dir = Path(out_dir)
    if out_dir.exists() or out_dir.is_symlink():
        if not out_dir.is_dir():
            raise UserError("exists and is not a folder; choose another --out", source=str(out_dir))
        if any(out_dir.iterdir()) and not is_marked(out_dir, kind):
            what = "an earlier run's" if kind == "run" else "an earlier sweep's"
            raise UserError(f"is not empty and is not {what} output folder (it has no {MARKERS[kind]} "
                            "marker); nothing in it was touched: choose another --out", source=str(out_dir))
    anchor = _nearest_existing(out_dir.parent)
    if not anchor.is_dir():
        raise UserError(f"cannot create the output folder: {anchor} is not a folder", source=str(out_dir))
    if not os.access(anchor, os.W_OK | os.X_OK):
        raise UserError(f"cannot write the output folder: {anchor} is not writable; choose another --out",
                        source=str(out_dir))


def _owner_alive(staging: Path) -> bool:
    try:
        owner = json.loads((staging / _OWNER).read_text())
    except (OSError, ValueError):
        return False  # no readable owner record: a writer that died before writing it, or not ours
    if owner.get("host") != socket.gethostname():
        return True  # another machine's writer (shared folder): never ours to judge
    try:
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, KeyError, ValueError):
        return True
    return True


def clean_stale(parent: Path) -> list[Path]:
    """Remove staging folders in ``parent`` left by writers that no longer run; returns them."""
    removed = []
    try:
        entries = list(Path(parent).iterdir())
    except OSError:
        return removed
    for p in entries:
        if p.name.startswith(".") and p.name.endswith(_STAGING_SUFFIX) and p.is_dir() and not p.is_symlink():
            if (p / _OWNER).is_file() and not _owner_alive(p):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
    return removed


def _new_staging(parent: Path, name: str) -> Path:
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=_STAGING_SUFFIX, dir=parent))
    # mkdtemp makes 0700 folders; outputs follow the user's umask like any other file they create
    tmp.chmod(0o777 & ~_umask())
    (tmp / _OWNER).write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))
    return tmp


def _mark(folder: Path, kind: Kind) -> None:
    (folder / MARKERS[kind]).write_text(f"written by semcom-sim: it may replace this {kind} folder\n")


def make_folder(out_dir: Path, kind: Kind) -> None:
    """Create ``out_dir`` (or adopt an empty one) as this program's folder of ``kind``."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        _mark(out_dir, kind)
    except OSError as e:
        raise UserError(f"cannot create the output folder: {e.strerror}", source=str(out_dir)) from None


@contextmanager
def staged(out_dir: Path, kind: Kind = "run") -> Iterator[Path]:
    """Yield an empty staging folder; on success it replaces ``out_dir`` (which ``check_target``
    allowed), on any failure or interrupt it is removed and ``out_dir`` is left as it was."""
    out_dir = Path(out_dir)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        clean_stale(out_dir.parent)
        tmp = _new_staging(out_dir.parent, out_dir.name)
    except OSError as e:
        raise UserError(f"cannot write the output folder: {e.strerror}", source=str(out_dir)) from None
    try:
        with cleanup_first():
            yield tmp
            _mark(tmp, kind)
            if out_dir.exists():
                check_target(out_dir, kind)  # still ours? (a user may have put files there meanwhile)
                # move the old folder aside first, so an interrupt between the two renames loses nothing:
                # the old one stays in a staging folder that the next writer cleans up
                trash = _new_staging(out_dir.parent, out_dir.name)
                out_dir.replace(trash / "old")
                tmp.replace(out_dir)
                shutil.rmtree(trash, ignore_errors=True)
            else:
                tmp.replace(out_dir)
            (out_dir / _OWNER).unlink()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one rename (no reader ever sees half a file)."""
    def write(fd: int, _tmp: str) -> None:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)

    replace_atomic(path, write)


def replace_atomic(path: Path, write) -> None:
    """Replace ``path`` in one rename with what ``write(fd, tmp_path)`` puts in a temporary file
    beside it (which ``write`` must close); the temporary file is removed if anything fails."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        write(fd, tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise
        raise
