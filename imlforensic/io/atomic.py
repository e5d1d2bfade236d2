"""Atomic file writes: a reader never sees a half-written output, a crash leaves no partial file.

Every file the tool writes (maps, records, PDFs, checkpoints, downloads) goes through
:func:`atomic_path`: the content is written to a temporary file beside its target, named
``.TARGET.PID.RANDOM.tmp`` (the writer's process id), flushed to disk, given the permissions a
plain ``open()`` would give under the process's umask (``tempfile.mkstemp`` creates files
readable by the owner only, which would hide a shared case folder from colleagues), and renamed
over the target. On any error the temporary file is removed.

A process killed between the two (``kill -9``, a power cut) leaves its temporary file behind;
:func:`remove_stale_temporaries`, run by the next run on its output folder, deletes the ones
whose writer no longer runs, and only files of exactly this pattern. Those of a live process (a
concurrent run into the same folder) are left alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_TEMPORARY = re.compile(r"^\..+\.(?P<pid>[0-9]+)\.[A-Za-z0-9_]+\.tmp$")
PROBE_NAME = ".imlforensic-write-test"
STALE_AFTER_S = 3600.0
"""Where a writer's liveness cannot be asked (not POSIX), temporary files older than this are stale."""


def _temporary_for(path: Path) -> tuple[int, str]:
    """A new temporary file beside ``path`` (descriptor, name), of the pattern above."""
    return tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)


_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask (read by setting and restoring it, under a lock)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def default_file_mode() -> int:
    """What ``open(path, "w")`` would give a new file: 0o666 less the umask (0o644 under 022)."""
    return 0o666 & ~current_umask()


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds it becomes ``path``.

    The block writes the temporary file by name (for writers that only take a path, such as
    safetensors, matplotlib or torch.save). The folder is created if needed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = _temporary_for(path)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see the module docstring)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_json(path: Path | str, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


def probe_writable(folder: Path) -> None:
    """Create and delete a temporary file in ``folder`` (raises ``OSError`` if it cannot be written)."""
    fd, name = _temporary_for(Path(folder) / PROBE_NAME)
    os.close(fd)
    os.unlink(name)


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the temporary files that dead writers left anywhere below ``folder``; return them.

    Symbolic links to folders are not followed, so nothing outside ``folder`` is touched.
    """
    removed: list[Path] = []
    for root, _dirs, files in os.walk(folder):
        for name in files:
            match = _TEMPORARY.match(name)
            path = Path(root) / name
            if match and _writer_gone(int(match["pid"]), path):
                try:
                    path.unlink()
                except OSError:  # removed meanwhile, or not ours to remove: left as it is
                    continue
                removed.append(path)
    return removed


def _writer_gone(pid: int, path: Path) -> bool:
    if pid == os.getpid():
        return False
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        try:
            return time.time() - path.stat().st_mtime > STALE_AFTER_S
        except OSError:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (OverflowError, OSError):  # alive under another user (EPERM), or not a pid at all
        return False
    return False
