"""sha256 of files and bytes: the identity of inputs and weights in every record."""

from __future__ import annotations

import hashlib
from pathlib import Path

from imlforensic.io.files import open_regular

CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path | str, chunk: int = CHUNK) -> str:
    """sha256 of a regular file's bytes (:class:`~imlforensic.io.files.NotRegularFileError` for a
    FIFO, device or folder: nothing is read from them)."""
    digest = hashlib.sha256()
    with open_regular(path) as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
