"""Atomic file writes: a reader never sees a half-written output, a crash leaves no partial file.

Every file the tool writes (maps, records, PDFs, checkpoints, downloads) goes through
:func:`atomic_path`: the content is written to a temporary file in the destination folder,
flushed to disk, given the permissions a plain ``open()`` would give under the process's umask
(``tempfile.mkstemp`` creates files readable by the owner only, which would hide a shared case
folder from colleagues), and renamed into place. On any error the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TEMP_SUFFIX = ".tmp"
"""Suffix of the temporary files (``.NAME.XXXXXXXX.tmp``) beside their destination."""

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
def atomic_path(path: Path | str, suffix: str = TEMP_SUFFIX) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds it becomes ``path``.

    The block writes the temporary file by name (for writers that only take a path, such as
    safetensors, matplotlib or torch.save). The folder is created if needed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
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
