"""Atomic file writes: a reader never sees a half-written output, a crash leaves no partial file.

A write goes to a temporary file beside its target, named ``.TARGET.PID.RANDOM.tmp`` (the
writer's process id), and is renamed over the target. A process killed between the two
(``kill -9``, a power cut) leaves its temporary file behind; :func:`remove_stale_temporaries`,
run by the next run on its output folder, deletes the ones whose writer no longer runs, and
only files of exactly this pattern. Those of a live process (a concurrent run into the same
folder) are left alone.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

_TEMPORARY = re.compile(r"^\..+\.(?P<pid>[0-9]+)\.[A-Za-z0-9_]+\.tmp$")
PROBE_NAME = ".imlforensic-write-test"
STALE_AFTER_S = 3600.0
"""Where a writer's liveness cannot be asked (not POSIX), temporary files older than this are stale."""


def _temporary_for(path: Path) -> tuple[int, str]:
    """A new temporary file beside ``path`` (descriptor, name), of the pattern above."""
    return tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = _temporary_for(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
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
