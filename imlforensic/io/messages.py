"""Messages for people: one-line error reasons and once-per-process notices on stderr."""

from __future__ import annotations

import sys

_shown: set[str] = set()


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def notice(message: str) -> None:
    """Print ``notice: MESSAGE`` on stderr, once per process (facts about a run that are not
    errors, e.g. that ``--refiner sam`` runs the offline checkpoint)."""
    if message not in _shown:
        _shown.add(message)
        sys.stderr.write(f"notice: {message}\n")
        sys.stderr.flush()
