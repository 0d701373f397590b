"""On-disk cache entries that survive corruption, concurrent runs and read-only folders.

Both caches of the simulator (trained encoders in ``<cache>/encoders/<key>.pt`` and synthesised
speech in ``<cache>/data/digits-audio-<key>.npy``) go through :func:`load_or_build`, which
guarantees:

* **Verified reads.** An entry file is a one-line header holding the entry's key (its own file
  name) and the SHA-256 of the payload, followed by the payload (the bytes ``torch.save``/``np.save``
  wrote). The key and the checksum are verified before anything is deserialised, so a truncated,
  empty or overwritten file, or a valid entry copied under another key's name, never reaches
  ``torch.load``/``np.load``; the caller's ``load`` then checks what is cheap to check (keys,
  shapes, dtypes). An entry that fails any of this is discarded with a one-line warning on the
  ``semcom_sim.cache`` logger naming the file, and rebuilt.
* **One builder at a time.** Building takes an exclusive lock (``filelock``, one lock file
  ``.<name>.lock`` per entry, beside it) and re-checks the entry once the lock is held, so a
  second run that wants the same entry waits for the first and then loads its result instead of
  building it again. The wait has no time limit (training can take long; a holder that dies
  releases the lock with its process), but it is announced by a one-line warning.
* **Atomic writes.** The payload is written to a uniquely named temporary file in the entry's
  folder (``.<name>.<random>.tmp``) and moved into place with ``os.replace``: readers see the old
  entry or the new one, never a partial file. Temporary files for an entry that are found while
  holding its lock can only come from a killed run, and are removed.
* **Read-only caches.** A valid entry is read without taking the lock, so a read-only cache that
  already holds what a run needs works. When something has to be built and the folder is not
  writable, :class:`~semcom_sim.errors.UserError` says so in one line before any building starts.

The module imports neither torch nor numpy: callers pass ``save``/``load`` callables.
"""
from __future__ import annotations

import glob
import hashlib
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

from .errors import UserError

__all__ = ["InvalidEntry", "check_writable", "entry_is_valid", "load_or_build", "read_entry", "write_entry"]

log = logging.getLogger(__name__)
T = TypeVar("T")

# The first line of an entry: the magic, the entry's own file name (its key: a copy under another
# key's name is refused, although its checksum is fine) and the payload's SHA-256.
_MAGIC = b"semcom-sim cache v2 key="
_OLD_MAGIC = b"semcom-sim cache v1 "
_DIGEST = b" sha256="
_MAX_HEADER = 4096  # a file name is at most 255 bytes; more than this is not a header of ours
_CHUNK = 1 << 20
_HOW_TO_CHOOSE = "choose another with data.cache_dir in the scenario or $SEMCOM_SIM_CACHE"


class InvalidEntry(Exception):
    """A cache entry that exists but cannot be used; the message says why (one line)."""


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _header(name: str, digest: str) -> bytes:
    return _MAGIC + name.encode("utf-8", "surrogateescape") + _DIGEST + digest.encode("ascii") + b"\n"


def _payload_digest(f: BinaryIO, start: int) -> str:
    h = hashlib.sha256()
    f.seek(start)
    while chunk := f.read(_CHUNK):
        h.update(chunk)
    return h.hexdigest()


def _check_header(f: BinaryIO, name: str) -> int:
    """Verify the header and the checksum of the open entry ``name``; returns where the payload starts."""
    header = f.readline(_MAX_HEADER)
    if not header:
        raise InvalidEntry("empty file")
    if header.startswith(_OLD_MAGIC):
        raise InvalidEntry("written by an older semcom-sim (cache v1, whose entries do not name their key)")
    if not header.startswith(_MAGIC) or not header.endswith(b"\n") or _DIGEST not in header:
        raise InvalidEntry("no semcom-sim cache header")
    key, _, digest = header[len(_MAGIC):-1].rpartition(_DIGEST)
    key = key.decode("utf-8", "surrogateescape")
    if key != name:
        raise InvalidEntry(f"it is the entry {key!r}, not {name!r} (copied or renamed)")
    start = len(header)
    if _payload_digest(f, start) != digest.decode("ascii", "replace"):
        raise InvalidEntry("checksum mismatch: truncated or corrupted")
    return start


def read_entry(path: str | os.PathLike, load: Callable[[BinaryIO], T]) -> T:
    """The value stored in the entry at ``path``.

    ``load(f)`` gets the open file positioned at the payload, only after the key and the checksum
    matched; it should raise :class:`InvalidEntry` (any exception will do) when the content does
    not fit. Raises ``FileNotFoundError`` when there is no entry and :class:`InvalidEntry` when
    there is one that cannot be used.
    """
    path = Path(path)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise
    except OSError as e:
        raise InvalidEntry(f"cannot open it: {e.strerror or e}") from e
    with f:
        try:
            f.seek(_check_header(f, path.name))
        except OSError as e:
            raise InvalidEntry(f"cannot read it: {e.strerror or e}") from e
        try:
            return load(f)
        except InvalidEntry:
            raise
        except Exception as e:  # key and checksum matched, so this is a foreign or outdated payload
            raise InvalidEntry(_one_line(f"{type(e).__name__}: {e}")) from e


def entry_is_valid(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds an entry whose checksum matches (the payload is not deserialised)."""
    try:
        read_entry(path, lambda f: None)
    except (FileNotFoundError, InvalidEntry):
        return False
    return True


def _not_writable(folder: Path, err: OSError) -> UserError:
    reason = err.strerror or type(err).__name__
    if err.filename and folder not in (Path(err.filename), *Path(err.filename).parents):
        reason += f": {err.filename}"  # a component above the folder, e.g. a file in the way
    return UserError(f"cache folder is not writable ({reason}); {_HOW_TO_CHOOSE}", source=str(folder))


def check_writable(cache_dir: str | os.PathLike) -> Path:
    """Create ``cache_dir`` if needed and make sure files can be created in it.

    Raises :class:`~semcom_sim.errors.UserError` (one line naming the folder and how to choose
    another) when it cannot; returns the folder. Cheap: one empty probe file, removed at once.
    """
    folder = Path(cache_dir).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-probe.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise _not_writable(folder, e) from None
    return folder


def _temp_pattern(path: Path) -> str:
    return str(path.parent / f".{glob.escape(path.name)}.*.tmp")


def _remove_stale_temps(path: Path) -> None:
    """Call only while holding the entry's lock: then no live writer owns such a file."""
    for stale in glob.glob(_temp_pattern(path)):
        try:
            os.unlink(stale)
            log.debug("removed stale temporary file %s", stale)
        except OSError:
            pass


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_entry(path: str | os.PathLike, value: T, save: Callable[[T, BinaryIO], None]) -> None:
    """Atomically store ``value`` at ``path``: ``save(value, f)`` writes the payload to ``f``.

    The file is written under a unique temporary name in the same folder, checksummed, synced and
    moved into place with ``os.replace``. Hold the entry's lock (see :func:`load_or_build`) when
    several processes may write it.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w+b") as f:
            start = len(_header(path.name, "0" * 64))
            f.write(b"\0" * start)  # placeholder until the digest is known
            save(value, f)
            f.flush()
            digest = _payload_digest(f, start)
            f.seek(0)
            f.write(_header(path.name, digest))
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; an entry gets the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def load_or_build(path: str | os.PathLike, build: Callable[[], T], save: Callable[[T, BinaryIO], None],
                  load: Callable[[BinaryIO], T]) -> tuple[T, bool]:
    """``(value, from_cache)``: the entry at ``path`` if it is valid, else ``build()``, stored there.

    ``load(f)`` reads a payload from a binary file (see :func:`read_entry`), ``save(value, f)``
    writes one. The steps:

    1. Read the entry without locking; if it is valid, return it (works in read-only caches).
    2. Otherwise make sure its folder is writable (:class:`~semcom_sim.errors.UserError`
       otherwise, before ``build`` runs) and take the entry's lock, ``.<name>.lock`` beside it.
       The lock is waited for without a time limit; when another process holds it, a one-line
       warning says whose entry is being waited for.
    3. Holding the lock: read the entry again (another run may have built it meanwhile) and return
       it if valid; else discard an unusable one with a one-line warning naming it, remove stale
       temporary files, ``build()``, write the entry atomically and return the value.

    A failure to write the entry after building (e.g. a full disk) is a warning, not an error:
    the value is returned uncached.
    """
    from filelock import FileLock, Timeout

    path = Path(path)
    warned = False

    def discard(reason: InvalidEntry) -> None:
        nonlocal warned
        if not warned:
            log.warning("semcom-sim: discarding unreadable cache entry %s (%s); rebuilding", path, reason)
            warned = True

    if path.is_dir() and not path.is_symlink():
        try:
            path.rmdir()  # an empty folder in an entry's place holds nothing: heal it
        except OSError:
            raise UserError("is a folder, not a cache entry, and it is not empty, so it was left alone: remove "
                            "it, or choose another cache folder with data.cache_dir in the scenario or "
                            "$SEMCOM_SIM_CACHE", source=str(path)) from None
    try:
        return read_entry(path, load), True
    except FileNotFoundError:
        pass
    except InvalidEntry as e:
        discard(e)

    check_writable(path.parent)
    lock_path = path.parent / f".{path.name}.lock"
    lock = FileLock(lock_path)
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            log.warning("semcom-sim: waiting for another run to finish building %s (lock %s)", path, lock_path)
            lock.acquire(timeout=-1)
    except OSError as e:  # e.g. a lock file another account created and this one may not open
        raise UserError(f"cannot take the lock {lock_path.name} in the cache folder ({e.strerror or e}); "
                        f"{_HOW_TO_CHOOSE}", source=str(path.parent)) from None
    try:
        try:
            return read_entry(path, load), True
        except FileNotFoundError:
            pass
        except InvalidEntry as e:
            discard(e)
            path.unlink(missing_ok=True)
        _remove_stale_temps(path)
        value = build()
        try:
            write_entry(path, value, save)
        except Exception as e:  # noqa: BLE001 - e.g. a full disk, which torch.save reports as a RuntimeError
            reason = e.strerror if isinstance(e, OSError) and e.strerror else _one_line(str(e) or type(e).__name__)
            log.warning("semcom-sim: could not write cache entry %s (%s); continuing without caching it",
                        path, reason)
        return value, False
    finally:
        lock.release()
