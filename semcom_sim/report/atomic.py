"""Renames that never leave a half state: a file replaced in one rename, two folders that trade
places in one system call, a folder moved only to a free name.

Linux's ``renameat2(2)`` is called through ctypes (glibc >= 2.28): the standard library and the
well-kept packages on PyPI expose neither ``RENAME_EXCHANGE`` nor ``RENAME_NOREPLACE``. Where the
C library or the file system lacks them (NFS, some FUSE), :func:`exchange` says so and the caller
falls back (see :mod:`semcom_sim.report.folders`).
"""
from __future__ import annotations

import ctypes
import errno
import os
import tempfile
from pathlib import Path


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# renameat2(2) flags (linux/fs.h)
_RENAME_NOREPLACE, _RENAME_EXCHANGE = 1, 2
_AT_FDCWD = -100


def _renameat2(src: Path, dst: Path, flags: int) -> bool:
    """``renameat2(src, dst, flags)``; False where the C library or the file system lacks it."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    if fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(dst))


def exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one step; False where that cannot be done here."""
    return _renameat2(a, b, _RENAME_EXCHANGE)


def rename_noreplace(src: Path, dst: Path) -> None:
    """Move ``src`` to the free name ``dst``; raises FileExistsError when ``dst`` is taken (where the
    system cannot promise that, a folder that appears between the check and the rename is lost to
    the race, as with any rename)."""
    if not _renameat2(src, dst, _RENAME_NOREPLACE):
        if dst.exists() or dst.is_symlink():
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dst))
        os.rename(src, dst)


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one rename (no reader ever sees half a file)."""
    def write(fd: int, _tmp: str) -> None:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)

    replace_atomic(path, write)


def replace_atomic(path: Path, write) -> None:
    """Replace ``path`` in one rename with what ``write(fd, tmp_path)`` puts in a temporary file
    beside it (which ``write`` must close); the temporary file is removed if anything fails. A
    symbolic link at ``path`` is followed: the file it names is replaced, the link stays."""
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        write(fd, tmp)
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise
        raise
