"""Output folders that never touch what a user owns, and never leave a run half in place.

A run writes into a hidden staging folder beside its target and moves it into place at the end.

* **Ownership.** The program only replaces a folder whose marker file ``.semcom-sim-run`` is a
  manifest: the list of every file the program wrote there, with its size and SHA-256. A folder
  holding anything the manifest does not list (a user's ``notes.txt``, a sub-folder) is refused in
  one line and left untouched; so is a folder marked by an older version without a manifest. A
  common name such as ``scenario.yaml`` proves nothing, since a user may keep one in their own folder.
  A sweep folder is marked ``.semcom-sim-sweep``: a sweep never replaces it, it only writes its own
  file names into it.
* **Verification.** :func:`damage` compares a run folder with its manifest, so a sweep trusts a
  finished cell only while its files are the ones the run wrote.
* **Moving into place.** On Linux the staging folder and the old folder trade places in one
  ``renameat2(RENAME_EXCHANGE)``: at every instant the target's name holds either the old or the
  new complete run. Where the file system cannot exchange, the old folder is first moved into a
  staging folder that records where it came from; an interrupt between the two renames moves it
  back, and a writer killed there (SIGKILL) has it moved back by the next writer into the same
  parent (:func:`clean_stale`) before anything is removed.
* **Symbolic links.** A ``--out`` that is a symbolic link is followed: the run lands in the folder
  it points to (under the same rules) and the link itself is left as it is.

Staging folders carry the writer's host and pid; one whose writer is gone (SIGKILL, power loss)
is removed by the next writer into the same parent folder, never one whose writer still runs.
"""
from __future__ import annotations

import errno
import hashlib
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
from . import atomic
from .atomic import umask

Kind = Literal["run", "sweep"]
MARKERS = {"run": ".semcom-sim-run", "sweep": ".semcom-sim-sweep"}
_STAGING_SUFFIX = ".semcom-tmp"
_OWNER = ".semcom-sim-owner"
_MANIFEST_FORMAT = "semcom-sim manifest v1"
_OLD = "old"  # inside a staging folder: the folder it replaced, while the fallback move runs
# errors that say the disk or the account cannot hold the output, not that the program is wrong
_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def is_marked(folder: Path, kind: Kind) -> bool:
    return (folder / MARKERS[kind]).is_file()


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


# --------------------------------------------------------------------------- the manifest

def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _entries(folder: Path) -> tuple[list[str], list[str]]:
    """(files, folders) under ``folder`` as relative POSIX paths, the bookkeeping files left out;
    a symbolic link counts as a file (it is never followed)."""
    files, dirs = [], []
    for root, subdirs, names in os.walk(folder):
        rel = Path(root).relative_to(folder)
        for d in list(subdirs):
            if (Path(root) / d).is_symlink():
                subdirs.remove(d)
                names.append(d)
            else:
                dirs.append((rel / d).as_posix())
        for n in names:
            p = (rel / n).as_posix()
            if p not in (MARKERS["run"], _OWNER):
                files.append(p)
    return sorted(files), sorted(dirs)


def write_manifest(folder: Path) -> None:
    """Mark ``folder`` as a run folder whose files are exactly the ones in it now."""
    files, _ = _entries(folder)
    listed = {p: {"size": (folder / p).stat().st_size, "sha256": _sha256(folder / p)} for p in files}
    text = json.dumps({"format": _MANIFEST_FORMAT, "kind": "run", "files": listed}, indent=1) + "\n"
    (folder / MARKERS["run"]).write_text(text)


def read_manifest(folder: Path) -> dict[str, dict] | None:
    """The files a run folder's manifest lists, or None when it has none that this version reads
    (no marker, an older version's plain marker, a damaged one)."""
    try:
        data = json.loads((folder / MARKERS["run"]).read_text(encoding="utf-8"))
        if data.get("format") != _MANIFEST_FORMAT or not isinstance(data.get("files"), dict):
            return None
        return {str(k): v for k, v in data["files"].items() if isinstance(v, dict)}
    except (OSError, ValueError, AttributeError):
        return None


def foreign(folder: Path, listed: dict[str, dict]) -> list[str]:
    """What ``folder`` holds beyond the files ``listed`` and the folders that lead to them."""
    files, dirs = _entries(folder)
    needed = {q.as_posix() for p in listed for q in Path(p).parents}
    return [p for p in files if p not in listed] + [d for d in dirs if d not in needed]


def damage(folder: Path) -> str | None:
    """None when ``folder`` holds a complete run exactly as its manifest lists it; else what is
    wrong, in a few words (a sweep reruns such a cell)."""
    listed = read_manifest(folder)
    if listed is None:
        return "no manifest" if (folder / MARKERS["run"]).exists() else "not a run folder"
    for rel, meta in listed.items():
        p = folder / rel
        try:
            if p.is_symlink() or not p.is_file():
                return f"{rel} is missing"
            if p.stat().st_size != meta.get("size") or _sha256(p) != meta.get("sha256"):
                return f"{rel} changed since it was written"
        except OSError as e:
            return f"{rel} cannot be read ({e.strerror or e})"
    return None


# --------------------------------------------------------------------------- targets

def resolve_target(out_dir: Path, kind: Kind = "run") -> Path:
    """The absolute path a run or sweep really writes: a symbolic link is followed to the folder it
    names (one that names nothing is refused). A run's folder may not be the working folder or hold
    it, since a run replaces its folder as a whole."""
    out_dir = Path(out_dir)
    if out_dir.is_symlink() and not out_dir.exists():
        raise UserError(f"is a symbolic link to {os.readlink(out_dir)}, which does not exist; choose another --out",
                        source=str(out_dir))
    try:
        real = out_dir.resolve()
        cwd = Path.cwd().resolve()
    except (OSError, RuntimeError) as e:  # a link loop, a folder deleted under us
        raise UserError(f"cannot resolve the output folder ({getattr(e, 'strerror', None) or e})",
                        source=str(out_dir)) from None
    if kind == "run" and (real == cwd or real in cwd.parents):
        raise UserError("is the working folder or holds it; the output folder is replaced as a whole when "
                        "the run ends: give a folder name, e.g. --out runs/mine", source=str(out_dir) or ".")
    return real


def check_target(out_dir: Path, kind: Kind) -> Path:
    """Refuse, before any work, a target this program may not write: an existing file, a folder
    that holds anything the program did not write there, or a place where nothing can be created.
    Returns the resolved target (see :func:`resolve_target`)."""
    shown = str(out_dir)
    out_dir = resolve_target(out_dir, kind)
    if out_dir.exists():
        if not out_dir.is_dir():
            raise UserError("exists and is not a folder; choose another --out", source=shown)
        _check_ours(out_dir, kind, shown)
    anchor = _nearest_existing(out_dir.parent)
    if not anchor.is_dir():
        raise UserError(f"cannot create the output folder: {anchor} is not a folder", source=shown)
    try:
        name_max = os.pathconf(anchor, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    # the staging folder beside it is named ".<name>.<8 random characters>.semcom-tmp"
    room = name_max - len(os.fsencode(f"..12345678{_STAGING_SUFFIX}"))
    if len(os.fsencode(out_dir.name)) > room:
        raise UserError(f"the folder's name is longer than {room} bytes, which this file system leaves for it "
                        "beside a staging folder's marks; choose a shorter --out", source=shown)
    if not os.access(anchor, os.W_OK | os.X_OK):
        raise UserError(f"cannot write the output folder: {anchor} is not writable; choose another --out",
                        source=shown)
    return out_dir


def _check_ours(folder: Path, kind: Kind, shown: str) -> None:
    try:
        empty = not any(e for e in folder.iterdir() if e.name != _OWNER)
    except OSError as e:
        raise UserError(f"cannot read the output folder ({e.strerror or e})", source=shown) from None
    if empty:
        return
    if not is_marked(folder, kind):
        what = "an earlier run's" if kind == "run" else "an earlier sweep's"
        raise UserError(f"is not empty and is not {what} output folder (it has no {MARKERS[kind]} marker); "
                        "nothing in it was touched: choose another --out", source=shown)
    if kind == "sweep":
        return  # a sweep writes its own file names into its folder and removes nothing
    listed = read_manifest(folder)
    if listed is None:
        raise UserError(f"was written by an older semcom-sim ({MARKERS['run']} lists no files), so its files "
                        "cannot be told from yours; nothing was touched: remove it yourself or choose another "
                        "--out", source=shown)
    extra = foreign(folder, listed)
    if extra:
        more = f" and {len(extra) - 3} more" if len(extra) > 3 else ""
        raise UserError(f"holds {', '.join(extra[:3])}{more}, which semcom-sim did not write; nothing was "
                        "touched: move it out or choose another --out", source=shown)


def check_apart(out_dir: Path, cache_dir: Path, field: str = "data.cache_dir") -> None:
    """Refuse an output folder that is, holds or lies inside the cache folder: the output folder is
    replaced as a whole, and the cache would go with it (or fill it)."""
    out, cache = Path(out_dir).resolve(), Path(cache_dir).expanduser().resolve()
    if out == cache or out in cache.parents or cache in out.parents:
        raise UserError(f"overlaps the cache folder {cache} ({field}); keep the two apart: choose another --out",
                        source=str(out_dir))


# --------------------------------------------------------------------------- staging

def _owner_alive(owner: dict) -> bool:
    if owner.get("host") != socket.gethostname():
        return True  # another machine's writer (shared folder): never ours to judge
    try:
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, KeyError, ValueError, TypeError):
        return True
    return True


def _read_owner(staging: Path) -> dict | None:
    try:
        owner = json.loads((staging / _OWNER).read_text())
        return owner if isinstance(owner, dict) else None
    except (OSError, ValueError):
        return None  # no readable owner record: a writer that died before writing it, or not ours


def clean_stale(parent: Path) -> list[Path]:
    """Remove staging folders in ``parent`` left by writers that no longer run; returns them. A
    folder that such a writer had moved aside and not yet replaced goes back to its name first."""
    removed = []
    try:
        entries = list(Path(parent).iterdir())
    except OSError:
        return removed
    for p in entries:
        if not (p.name.startswith(".") and p.name.endswith(_STAGING_SUFFIX) and p.is_dir() and not p.is_symlink()):
            continue
        owner = _read_owner(p)
        if owner is None or _owner_alive(owner):
            continue
        target = owner.get("restore")
        if isinstance(target, str) and target and "/" not in target and (p / _OLD).is_dir():
            dest = p.parent / target
            try:
                atomic.rename_noreplace(p / _OLD, dest)
                (dest / _OWNER).unlink(missing_ok=True)
            except FileExistsError:
                # the writer died after the new run took the name: the parked one is the old run,
                # unless what holds the name now is not a complete run; then keep both
                if damage(dest) is not None:
                    continue
            except OSError:
                continue  # never delete a folder that could not be put back
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return removed


def _write_owner(folder: Path, **extra) -> None:
    (folder / _OWNER).write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(), **extra}))


def _new_staging(parent: Path, name: str, **owner) -> Path:
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=_STAGING_SUFFIX, dir=parent))
    # mkdtemp makes 0700 folders; outputs follow the user's umask like any other file they create
    tmp.chmod(0o777 & ~umask())
    _write_owner(tmp, **owner)
    return tmp


def _mark_sweep(folder: Path) -> None:
    (folder / MARKERS["sweep"]).write_text("written by semcom-sim: a sweep writes its own files here\n")


def make_folder(out_dir: Path, kind: Kind) -> None:
    """Create ``out_dir`` (or adopt an empty one) as this program's sweep folder."""
    assert kind == "sweep", "a run folder is made by staged()"
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        _mark_sweep(out_dir)
    except OSError as e:
        raise UserError(f"cannot create the output folder: {e.strerror}", source=str(out_dir)) from None


def _no_room(e: BaseException, shown: str) -> UserError | None:
    if isinstance(e, OSError) and e.errno in _NO_ROOM:
        return UserError(f"cannot write the output folder ({e.strerror}); nothing was changed: free some space "
                         "or choose another --out", source=shown)
    return None


@contextmanager
def staged(out_dir: Path, kind: Kind = "run") -> Iterator[Path]:
    """Yield an empty staging folder; on success it replaces ``out_dir`` (which :func:`check_target`
    allowed), on any failure or interrupt it is removed and ``out_dir`` is left as it was."""
    assert kind == "run", "only run folders are staged"
    shown = str(out_dir)
    out_dir = resolve_target(out_dir)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        clean_stale(out_dir.parent)
        tmp = _new_staging(out_dir.parent, out_dir.name)
    except OSError as e:
        raise (_no_room(e, shown) or UserError(f"cannot write the output folder: {e.strerror}",
                                                source=shown)) from None
    try:
        with cleanup_first():
            yield tmp
            write_manifest(tmp)
            _move_into_place(tmp, out_dir, shown)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        full = _no_room(e, shown)
        if full is not None:
            raise full from None
        raise


def _move_into_place(tmp: Path, out_dir: Path, shown: str) -> None:
    if not (out_dir.exists() or out_dir.is_symlink()):
        try:
            atomic.rename_noreplace(tmp, out_dir)
        except FileExistsError:
            raise UserError("appeared while the run ran; the new results were not kept: rerun with another "
                            "--out", source=shown) from None
        (out_dir / _OWNER).unlink(missing_ok=True)
        return
    check_target(out_dir, "run")  # still ours? (a user may have put files there meanwhile)
    # the old folder carries an owner record too, so that once the two have traded places a writer
    # killed before removing it leaves a staging folder the next writer removes
    try:
        _write_owner(out_dir)
    except OSError:
        pass  # then such a leftover is never removed, which loses nothing
    if atomic.exchange(tmp, out_dir):
        (out_dir / _OWNER).unlink(missing_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        return
    # no exchange here: two renames, the old folder parked where an interrupt or the next writer
    # finds it and puts it back
    (out_dir / _OWNER).unlink(missing_ok=True)
    trash = _new_staging(out_dir.parent, out_dir.name, restore=out_dir.name)
    try:
        out_dir.rename(trash / _OLD)
        tmp.rename(out_dir)
    except BaseException:
        # asked of the file system, not of a flag: a signal may land after a rename, before the next line
        if (trash / _OLD).is_dir() and not (out_dir.exists() or out_dir.is_symlink()):
            (trash / _OLD).rename(out_dir)
        if not (trash / _OLD).exists():
            shutil.rmtree(trash, ignore_errors=True)
        raise
    (out_dir / _OWNER).unlink(missing_ok=True)
    shutil.rmtree(trash, ignore_errors=True)
