"""Turn command-line input arguments into a list of image files and their output locations.

Arguments may be files, folders (top level, or the whole tree with ``recursive``), glob
patterns (``photos/**/*.jpg``), or ``-`` to read one path per line from standard input. Paths
read from standard input are taken verbatim (only the line's newline is removed: no globbing,
no ``~``, leading and trailing spaces kept).

What is not analysed is said, never dropped in silence:

* a path that cannot be used (missing, below a folder that cannot be read, a symbolic-link
  loop) or a folder that cannot be listed is a *problem* (one ``error:`` line, the run fails);
* hidden files and folders (names starting with ``.``) found in folders are skipped unless
  ``include_hidden``, symbolic links to folders are not followed (a link can loop back up the
  tree), paths inside an excluded folder (the output folder) are never read back, and a second
  name for a file already found (a link to it) is not analysed twice: each is a *note*.

Output names (:func:`output_component`): outputs mirror the input files' paths below their
deepest common folder, as the paths were found (a symbolic link that points elsewhere does not
move the layout), and keep the full file name, extension included (``a.jpg`` ->
``a.jpg.mask.png``). Every path component is escaped so that names cannot collide and cannot
leave the output folder: ``%`` becomes ``%25``, bytes that are not UTF-8 and control characters
``%XX``, a leading ``.`` ``%2E`` (so ``..jpg`` writes ``%2E.jpg.json``, and no output is hidden),
and a component longer than :data:`MAX_COMPONENT_BYTES` keeps its start and extension around
``%~`` and 12 hex digits of the sha256 of its full name. ``%~`` cannot come out of escaping a
short name, so a shortened name never equals another input's.
"""

from __future__ import annotations

import glob
import hashlib
import os
import stat
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from imlforensic.io import heif
from imlforensic.io.paths import os_error_reason, printable, raw_name

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".tif", ".tiff", ".webp", ".bmp", ".gif"}
    | set(heif.HEIF_SUFFIXES + heif.AVIF_SUFFIXES)  # decoded where their plug-ins are installed
)
GLOB_CHARS = set("*?[")

MAX_COMPONENT_BYTES = 200
"""Longest escaped path component. An output adds at most 19 bytes (``.coarse-heatmap.png``) and
its temporary file 22 more (:mod:`imlforensic.io.atomic`), under the usual 255-byte limit."""
HASH_MARK = "%~"
_KEPT_SUFFIX_BYTES = 16


@dataclass(frozen=True)
class InputItem:
    path: Path  # the input file as found (symbolic links not resolved): what is read
    display: str  # how to name it in messages and records: as the user gave it, or found below it (printable)
    rel: Path  # output location relative to --out, without a kind suffix (escaped components)

    @property
    def output_name(self) -> str:
        """``rel`` as recorded in the JSON (``/``-separated)."""
        return self.rel.as_posix()


@dataclass
class Expansion:
    items: list[InputItem]
    problems: list[tuple[str, str]] = field(default_factory=list)  # (name, reason): inputs that fail
    notes: list[str] = field(default_factory=list)  # entries left out on purpose, each named

    @property
    def missing(self) -> list[str]:
        """The names of the problems (they count as failed inputs)."""
        return [name for name, _ in self.problems]


def output_component(name: str) -> str:
    """One path component of an output name (module docstring): escaped, at most
    :data:`MAX_COMPONENT_BYTES` bytes, never hidden, ``.`` or ``..``."""
    raw = raw_name(name)
    escaped = "".join(_leading_escaped(_units(raw)))
    if len(escaped.encode("utf-8")) <= MAX_COMPONENT_BYTES:
        return escaped
    return _shortened(raw)


def _units(raw: bytes) -> list[str]:
    """``raw`` as escaped characters (``%XX`` for ``%``, control characters and non-UTF-8 bytes)."""
    return [_escape_char(char) for char in raw.decode("utf-8", "surrogateescape")]


def _escape_char(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8, kept by surrogateescape
        return f"%{code - 0xDC00:02X}"
    if char == "%" or code < 0x20 or code == 0x7F:
        return f"%{code:02X}"
    return char


def _leading_escaped(units: list[str]) -> list[str]:
    """A leading ``.`` escaped: no output is hidden, or mistaken for a temporary file."""
    return ["%2E"] + units[1:] if units and units[0] == "." else units


def _shortened(raw: bytes) -> str:
    """``start%~HASH.ext``: as much of the escaped name as fits, its extension, and a hash of it all."""
    stem, suffix = os.path.splitext(raw)
    if len(suffix) > _KEPT_SUFFIX_BYTES:
        stem, suffix = raw, b""
    tail = HASH_MARK + hashlib.sha256(raw).hexdigest()[:12] + "".join(_units(suffix))
    budget = MAX_COMPONENT_BYTES - len(tail.encode("utf-8"))
    kept: list[str] = []
    for unit in _leading_escaped(_units(stem)):
        budget -= len(unit.encode("utf-8"))
        if budget < 0:
            break
        kept.append(unit)
    return "".join(kept) + tail


def _is_under(path: Path, folders: list[Path]) -> bool:
    return any(path == folder or folder in path.parents for folder in folders)


def _real(path: Path) -> Path:
    """The path with every symbolic link resolved as far as possible (never raises on a loop)."""
    return Path(os.path.realpath(path))


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


class _Collector:
    """Gathers the files of every argument, with the problems and notes met on the way."""

    def __init__(self, recursive: bool, include_hidden: bool, exclude: list[Path]) -> None:
        self.recursive = recursive
        self.include_hidden = include_hidden
        self.exclude = exclude
        self.found: list[tuple[Path, str]] = []
        self.problems: list[tuple[str, str]] = []
        self.notes: list[str] = []

    def add_spec(self, spec: str, literal: bool) -> None:
        """One argument (``literal``: a line of standard input, taken as it is)."""
        if not spec or "\0" in spec:  # "" would mean the current folder; a NUL cannot be in a path
            self.problems.append((printable(spec) or '""', "not a path (empty, or it holds a NUL byte)"))
            return
        path = Path(spec) if literal else Path(spec).expanduser()
        try:
            mode = os.stat(path).st_mode
        except (FileNotFoundError, NotADirectoryError):
            if not literal and GLOB_CHARS & set(spec):
                self._add_glob(spec)
            else:
                self.problems.append((printable(spec), "no such file or folder"))
            return
        except OSError as exc:  # a folder on the way that cannot be read, a link loop, a name too long
            self.problems.append((printable(spec), os_error_reason(exc)))
            return
        if stat.S_ISDIR(mode):
            self._walk(path)
        else:
            self._add_file(path, spec)

    def _add_glob(self, spec: str) -> None:
        matches = sorted(glob.glob(os.path.expanduser(spec), recursive=True))
        if not matches:
            self.problems.append((printable(spec), "no such file or folder"))
        for match in matches:
            if os.path.isdir(match):
                self._walk(Path(match))
            else:
                self._add_file(Path(match), match)

    def _add_file(self, path: Path, display: str) -> None:
        if _is_under(_real(path), self.exclude):
            self.notes.append(f"{printable(display)}: inside the output folder, not read as input")
        else:
            self.found.append((path, printable(display)))

    def _walk(self, folder: Path) -> None:
        for root, dirs, files in os.walk(folder, onerror=self._unreadable):
            root_path = Path(root)
            dirs[:] = [d for d in sorted(dirs) if self._descend(root_path / d)] if self.recursive else []
            for name in sorted(files):
                if Path(name).suffix.lower() in IMAGE_SUFFIXES and self._keep_hidden(root_path / name, "file"):
                    self._add_file(root_path / name, str(root_path / name))

    def _descend(self, folder: Path) -> bool:
        if _is_under(_real(folder), self.exclude):
            return False  # the output folder inside the input tree: expected, not worth a note
        if os.path.islink(folder):
            self.notes.append(f"{printable(str(folder))}: symbolic link to a folder, not followed")
            return False
        return self._keep_hidden(folder, "folder")

    def _keep_hidden(self, path: Path, kind: str) -> bool:
        if self.include_hidden or not _is_hidden(path.name):
            return True
        self.notes.append(f"{printable(str(path))}: hidden {kind}, skipped (--include-hidden to analyse it)")
        return False

    def _unreadable(self, exc: OSError) -> None:
        self.problems.append((printable(str(exc.filename)), f"cannot read folder ({os_error_reason(exc)})"))


def read_stdin_paths(stream: TextIO) -> list[str]:
    """Paths from ``stream``, one per line, verbatim but for the newline; bytes that are not
    UTF-8 are kept as the file system's own (surrogate-escaped) names."""
    raw = getattr(stream, "buffer", None)
    data = raw.read() if raw is not None else stream.read().encode("utf-8", "surrogateescape")
    return [os.fsdecode(line) for line in data.split(b"\n") if line and line != b"-"]


def expand_inputs(
    specs: list[str],
    recursive: bool = False,
    exclude: Iterable[Path] = (),
    stdin: TextIO | None = None,
    include_hidden: bool = False,
) -> Expansion:
    """Expand arguments to image files, de-duplicated (by the file they resolve to), in argument order."""
    collector = _Collector(recursive, include_hidden, [_real(Path(p)) for p in exclude])
    for spec in specs:
        if spec == "-":
            for line in read_stdin_paths(stdin if stdin is not None else sys.stdin):
                collector.add_spec(line, literal=True)
        else:
            collector.add_spec(spec, literal=False)
    unique: dict[Path, tuple[Path, str]] = {}
    for path, display in collector.found:
        first = unique.setdefault(_real(path), (path, display))
        if first[1] != display:  # another name (a link) for a file already found
            collector.notes.append(f"{display}: same file as {first[1]}, analysed once")
    items, clashes = _assign_outputs(list(unique.values()))
    return Expansion(items=items, problems=collector.problems + clashes, notes=collector.notes)


def _assign_outputs(files: list[tuple[Path, str]]) -> tuple[list[InputItem], list[tuple[str, str]]]:
    """Output locations below the files' deepest common folder (as found, not resolved); a
    location already taken (two spellings of one place, e.g. through ``..`` after a link) is a problem."""
    if not files:
        return [], []
    places = [Path(os.path.abspath(path)) for path, _ in files]
    common = Path(os.path.commonpath([str(place.parent) for place in places]))
    items: list[InputItem] = []
    taken: dict[Path, str] = {}
    clashes: list[tuple[str, str]] = []
    for (path, display), place in zip(files, places):
        rel = Path(*(output_component(part) for part in place.relative_to(common).parts))
        if rel in taken:
            clashes.append((display, f"its output name {rel.as_posix()} is already used by {taken[rel]}"))
            continue
        taken[rel] = display
        items.append(InputItem(path=path, display=display, rel=rel))
    return items, clashes
