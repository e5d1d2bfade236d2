"""Opening input files safely: regular files only, checked on the open descriptor.

A FIFO named ``photo.jpg`` would block a plain ``open()`` forever and a link to ``/dev/zero``
would be read until memory runs out, so inputs (and the files hashed for ``--skip-existing``)
are opened non-blocking and checked with ``fstat`` before a byte is read.
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path


class NotRegularFileError(OSError):
    """A path that names a folder, pipe, device or socket: refused before a byte is read."""


_NOT_REGULAR = (
    (stat.S_ISDIR, "is a folder, not an image file"),
    (stat.S_ISFIFO, "is a named pipe (FIFO), not a regular file"),
    (stat.S_ISCHR, "is a character device, not a regular file"),
    (stat.S_ISBLK, "is a block device, not a regular file"),
    (stat.S_ISSOCK, "is a socket, not a regular file"),
)


def open_regular(path: Path | str) -> io.BufferedReader:
    """Open ``path`` for reading if it is a regular file (after symbolic links).

    Opened non-blocking (a FIFO's open returns at once) and checked with ``fstat`` on the open
    descriptor, so what is checked is what is read, even if the path changes meanwhile.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        for test, reason in _NOT_REGULAR:
            if test(mode):
                raise NotRegularFileError(0, reason)
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(0, "is not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
