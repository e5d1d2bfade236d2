"""Turn command-line input arguments into a list of image files and their output locations.

Arguments may be files, folders (top level, or the whole tree with ``recursive``), glob
patterns (``photos/**/*.jpg``), or ``-`` to read one path per line from standard input.

Outputs mirror the input files' paths below their deepest common folder, so two ``a.jpg`` in
different folders never collide. When two inputs in one folder share a stem (``a.jpg`` and
``a.png``), both keep their extension in the output name (``a.jpg.mask.png``). Files below an
excluded folder (the output folder, when it lies inside the input tree) are never picked up.
"""

from __future__ import annotations

import glob
import os
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".tif", ".tiff", ".webp", ".bmp", ".gif"})
GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class InputItem:
    path: Path  # absolute path of the input file
    display: str  # how to name it in messages (as the user gave it, or found below it)
    rel: Path  # output location relative to --out, without suffix


@dataclass
class Expansion:
    items: list[InputItem]
    missing: list[str]  # arguments that matched nothing


def _is_under(path: Path, folders: list[Path]) -> bool:
    return any(path == folder or folder in path.parents for folder in folders)


def _walk(folder: Path, recursive: bool, exclude: list[Path]) -> list[Path]:
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        root_path = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not _is_under((root_path / d).resolve(), exclude))
        found += [
            root_path / name
            for name in sorted(files)
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES
        ]
        if not recursive:
            break
    return found


def expand_inputs(
    specs: list[str], recursive: bool = False, exclude: Iterable[Path] = (), stdin: TextIO | None = None
) -> Expansion:
    """Expand arguments to image files, de-duplicated, in argument order."""
    excluded = [Path(p).resolve() for p in exclude]
    found: list[tuple[Path, str]] = []
    missing: list[str] = []
    queue = list(specs)
    while queue:
        spec = queue.pop(0)
        if spec == "-":
            stream = stdin if stdin is not None else sys.stdin
            queue[0:0] = [line.strip() for line in stream.read().splitlines() if line.strip() and line.strip() != "-"]
            continue
        path = Path(spec).expanduser()
        if path.is_dir():
            found += [(p, str(p)) for p in _walk(path, recursive, excluded)]
        elif path.exists():
            found.append((path, spec))
        elif GLOB_CHARS & set(spec):
            matches = sorted(glob.glob(os.path.expanduser(spec), recursive=True))
            if not matches:
                missing.append(spec)
            for match in matches:
                match_path = Path(match)
                if match_path.is_dir():
                    found += [(p, str(p)) for p in _walk(match_path, recursive, excluded)]
                elif not _is_under(match_path.resolve(), excluded):
                    found.append((match_path, match))
        else:
            missing.append(spec)
    unique: dict[Path, str] = {}
    for path, display in found:
        unique.setdefault(path.resolve(), display)
    return Expansion(items=_assign_outputs(unique), missing=missing)


def _assign_outputs(files: dict[Path, str]) -> list[InputItem]:
    if not files:
        return []
    parents = [str(p.parent) for p in files]
    common = Path(os.path.commonpath(parents))
    stems = Counter((p.parent, p.stem) for p in files)
    items = []
    for path, display in files.items():
        name = path.name if stems[(path.parent, path.stem)] > 1 else path.stem
        items.append(InputItem(path=path, display=display, rel=path.parent.relative_to(common) / name))
    return items
