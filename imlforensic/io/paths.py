"""Paths as text that can be printed and stored, and one-line reasons for the errors of reading them.

On POSIX a file name is bytes, and not every byte string is valid UTF-8: Python keeps the bytes
it cannot decode as lone surrogates (``surrogateescape``), which neither a UTF-8 terminal nor a
UTF-8 JSON file can hold. :func:`printable` is how messages and records name such a file.
"""

from __future__ import annotations

import errno
import os

_REASONS = {
    errno.ENOENT: "no such file",
    errno.ENOTDIR: "no such file (a part of the path is not a folder)",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ELOOP: "symbolic link loop (the link cannot be resolved)",
    errno.ENAMETOOLONG: "file name too long",
    errno.EISDIR: "is a folder, not an image file",
}


def os_error_reason(exc: OSError) -> str:
    """A short reason for an error of opening or listing a path (no path, no traceback)."""
    if exc.errno in _REASONS:
        return _REASONS[exc.errno]
    text = str(exc.strerror or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def raw_name(text: str) -> bytes:
    """The bytes a path string stands for (undecodable bytes restored from their surrogates)."""
    try:
        return os.fsencode(text)
    except UnicodeEncodeError:  # a surrogate that did not come from the file system
        return text.encode("utf-8", "backslashreplace")


def printable(text: str) -> str:
    """``text`` as one printable line: bytes that are not UTF-8 become ``\\xNN``, control and
    other invisible characters (line breaks, right-to-left overrides) ``\\xNN`` / ``\\uNNNN``.

    Ordinary names, accented and non-Latin ones included, are returned unchanged.
    """
    decoded = raw_name(text).decode("utf-8", "backslashreplace")
    if decoded.isprintable():
        return decoded
    return "".join(char if char.isprintable() else _escape(char) for char in decoded)


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
