"""Files written whole or not at all: temp file beside the target, flush, fsync, rename.

A reader (the runner reading a worker's status, a notebook reading ``params.json``, an
analyst opening a report) sees either the previous file or the complete new one, never
an empty or half-written one, even when the writer is killed or the disk fills up.

Fault injection for tests: when the environment variable ``SOE_FAULT_DISK_FULL`` is set
to a file-name pattern (``fnmatch``, e.g. ``*.status.json``), writing a matching file raises
``OSError(ENOSPC)`` as a full disk would, after the temp file was created and before the
rename (so the cleanup path is exercised too). Unset, it costs one dictionary lookup.
"""
from __future__ import annotations

import contextlib
import errno
import fnmatch
import os
from pathlib import Path
from typing import Iterator

__all__ = ["write_text_atomic", "write_bytes_atomic", "atomic_path", "is_disk_full", "FAULT_DISK_FULL_ENV"]

FAULT_DISK_FULL_ENV = "SOE_FAULT_DISK_FULL"


def _injected_fault(path: Path) -> None:
    pattern = os.environ.get(FAULT_DISK_FULL_ENV)
    if pattern and fnmatch.fnmatch(path.name, pattern):
        raise OSError(errno.ENOSPC, f"No space left on device (injected by ${FAULT_DISK_FULL_ENV})", str(path))


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems cannot fsync a directory; the rename still happened
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temp path beside ``path`` to write with any library (Parquet, Excel ...); renamed onto ``path`` on success.

    The temp file is fsynced before the rename and removed if the block raises.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        _injected_fault(path)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file, flush, fsync, rename). Returns the path.

    Raises:
        OSError: as the file system reports it (ENOSPC on a full disk); ``path`` is then untouched.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return path


def write_text_atomic(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically; see :func:`write_bytes_atomic`."""
    return write_bytes_atomic(path, text.encode(encoding))


def is_disk_full(e: BaseException) -> bool:
    """Whether ``e`` is the file system saying it is out of space (or quota)."""
    return isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)
