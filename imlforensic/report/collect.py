"""Gather what a report shows: one :class:`ReportItem` per image, from ``localize`` outputs.

Sources
-------
* **A results folder** (``localize --out DIR``): every ``NAME.json`` with schema
  ``imlforensic.result/1`` below it (sub-folders included) is one image; its PNGs are the
  files named in the record's ``outputs``, next to it.
* **Batch logs** (JSON Lines written by ``localize --json > DIR/batch.jsonl``, given with
  ``--batch FILE`` or found as ``*.jsonl`` at the top of the results folder): they list the
  inputs of a run, including the failed ones (``imlforensic.error/1`` lines).

How failed or missing images are found
--------------------------------------
``failed``    an ``imlforensic.error/1`` line in a batch log (or such a JSON file in the folder),
              or PNG outputs without their ``NAME.json`` (the record is written last, so the
              run stopped before the image was done), or an unreadable ``NAME.json``;
``missing``   a batch log lists a result for an input but the folder has no record for it;
``incomplete`` the record exists but some of the PNGs it names are gone: the page shows what
              is there and names what is not.

Order: the batch log's order when there is one (records it does not list follow), else the
records' paths in natural order.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from imlforensic.pipeline.outputs import PNG_SUFFIXES, split_output_name
from imlforensic.pipeline.records import ErrorRecord, Record, ResultRecord, parse_record

# What a page needs; any of them missing makes the item "incomplete".
PAGE_KINDS = ("heatmap", "mask", "overlay")


@dataclass
class ReportItem:
    """One image of the report, analysed or not."""

    status: str  # "ok" | "incomplete" | "failed" | "missing"
    path: str  # the input as the user named it (input.path), or the results base for orphans
    record: ResultRecord | None = None
    folder: Path | None = None  # where the outputs lie
    key: str = ""  # results-relative base name (figure names), e.g. "sub/photo"
    files: dict[str, Path] = field(default_factory=dict)  # kind -> existing output file
    missing_outputs: list[str] = field(default_factory=list)  # file names named by the record but absent
    error: str | None = None  # why it failed / is missing
    name: str = ""  # short unique display name, set by :func:`assign_names`

    @property
    def analysed(self) -> bool:
        return self.record is not None and self.status in ("ok", "incomplete")

    @property
    def refined(self) -> bool:
        return self.record is not None and self.record.refined


@dataclass
class Collection:
    items: list[ReportItem]
    folders: list[Path]
    batch_logs: list[Path]
    warnings: list[str] = field(default_factory=list)


def _natural_key(text: str) -> list[Any]:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def read_batch_log(path: Path) -> tuple[list[Record], list[str]]:
    """The result and error records of a JSON Lines batch log, and warnings about bad lines."""
    entries: list[Record] = []
    warnings: list[str] = []
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return [], [f"cannot read batch log {path}: {exc.strerror or exc}"]
    bad = 0
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            bad += 1
            continue
        record = parse_record(obj)
        if record is not None:
            entries.append(record)
    if bad:
        warnings.append(f"{path}: {bad} line(s) are not JSON and were ignored")
    return entries, warnings


def looks_like_results(folder: Path) -> bool:
    """True when ``folder`` (or a sub-folder) holds at least one ``imlforensic.result/1`` record."""
    return any(parse_record(_read_json(json_path)) is not None for json_path in _walk(folder, (".json",)))


def _walk(folder: Path, suffixes: tuple[str, ...]) -> Iterable[Path]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and name.lower().endswith(suffixes):
                yield Path(root) / name


def _read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _input_key(record: ResultRecord) -> tuple[str, str, str]:
    """An image's result by one method (several methods give one result each: ``-m A -m B``)."""
    method = record.method.name if record.method is not None else ""
    return (record.input.resolved_path or record.input.path, record.input.sha256 or "", method)


def item_from_record(record: ResultRecord, json_path: Path, root: Path) -> ReportItem:
    """A report item for a result record stored at ``json_path`` (outputs beside it)."""
    folder = json_path.parent
    base = json_path.name[: -len(".json")] if json_path.name.endswith(".json") else json_path.stem
    try:
        key = str((folder / base).relative_to(root))
    except ValueError:
        key = base
    files: dict[str, Path] = {}
    missing: list[str] = []
    outputs = record.outputs
    for kind, filename in outputs.items():
        if kind == "json":
            continue
        candidate = folder / Path(filename).name  # never follow paths out of the results folder
        if candidate.is_file():
            files[kind] = candidate
        else:
            missing.append(Path(filename).name)
    needed_missing = [k for k in PAGE_KINDS if k not in files and not (k == "heatmap" and "heatmap_color" in files)]
    if not outputs:
        status, error = "incomplete", "the record names no output images (made by `detect`, not `localize`?)"
    elif needed_missing or missing:
        status, error = "incomplete", "output file(s) missing: " + ", ".join(missing or needed_missing)
    else:
        status, error = "ok", None
    return ReportItem(
        status=status,
        path=record.input.path,
        record=record,
        folder=folder,
        key=key,
        files=files,
        missing_outputs=missing,
        error=error,
    )


def collect(
    folders: Iterable[Path],
    batch_logs: Iterable[Path] = (),
    only_batch: bool = False,
    batch_entries: list[Record] | None = None,
) -> Collection:
    """Collect report items from results folders and batch logs (see the module docstring).

    ``only_batch``: keep only the images the batch logs list (a report made right after a run,
    in a folder that may hold older results). ``batch_entries``: log objects already in memory.
    """
    folders = [Path(f) for f in folders]
    logs = [Path(p) for p in batch_logs]
    for folder in folders:
        logs += [p for p in sorted(folder.glob("*.jsonl")) if p.is_file() and p not in logs]
    warnings: list[str] = []
    entries: list[Record] = list(batch_entries or [])
    for log in logs:
        found, problems = read_batch_log(log)
        entries += found
        warnings += problems

    records: list[ReportItem] = []
    failures: list[ReportItem] = []
    for folder in folders:
        bases_with_json: set[Path] = set()
        for json_path in _walk(folder, (".json",)):
            obj = _read_json(json_path)
            record = parse_record(obj)
            base = json_path.with_name(json_path.name[: -len(".json")])
            if isinstance(record, ResultRecord):
                bases_with_json.add(base)
                records.append(item_from_record(record, json_path, folder))
            elif isinstance(record, ErrorRecord):
                bases_with_json.add(base)
                failures.append(ReportItem(status="failed", path=record.path, error=record.error))
            elif obj is None and _has_outputs(base):
                bases_with_json.add(base)
                failures.append(
                    ReportItem(
                        status="failed",
                        path=str(base.relative_to(folder)),
                        folder=folder,
                        error=f"the record {json_path.name} is unreadable or not JSON",
                    )
                )
        for base in _orphan_bases(folder, bases_with_json):
            rel = str(base.relative_to(folder))
            failures.append(
                ReportItem(
                    status="failed",
                    path=rel,
                    folder=folder,
                    key=rel,
                    error=f"output images without their record {base.name}.json (the run stopped before this image was done?)",
                )
            )

    by_key = {_input_key(item.record): item for item in records if item.record}
    by_path: dict[str, ReportItem] = {}
    for item in records:
        by_path.setdefault(item.path, item)

    ordered: list[ReportItem] = []
    seen: set[int] = set()
    for entry in entries:
        if isinstance(entry, ResultRecord):
            listed = by_key.get(_input_key(entry)) or by_path.get(entry.input.path)
            item = listed or ReportItem(
                status="missing",
                path=entry.input.path,
                record=None,
                error="listed in the batch log, but its results are not in the results folder",
            )
            if id(item) in seen:
                continue
        else:
            path = entry.path
            if path in by_path:  # analysed after all (e.g. a later run over the same folder)
                continue
            item = ReportItem(status="failed", path=path, error=entry.error)
            if any(o.status == "failed" and o.path == path for o in ordered):
                continue
        seen.add(id(item))
        ordered.append(item)
    if not only_batch or not entries:
        rest = sorted((i for i in records if id(i) not in seen), key=lambda i: _natural_key(i.key or i.path))
        ordered += rest
        ordered += [f for f in failures if not any(o.status == "failed" and o.path == f.path for o in ordered)]
    assign_names(ordered)
    return Collection(items=ordered, folders=folders, batch_logs=logs, warnings=warnings)


def _has_outputs(base: Path) -> bool:
    return any(base.with_name(base.name + suffix).is_file() for suffix in PNG_SUFFIXES)


def _orphan_bases(folder: Path, known: set[Path]) -> list[Path]:
    bases: dict[Path, None] = {}
    for png in _walk(folder, (".png",)):
        parts = split_output_name(png.name)
        if parts is not None:
            base = png.with_name(parts[0])
            if base not in known:
                bases.setdefault(base, None)
    return list(bases)


class Named(Protocol):
    path: str
    name: str


def assign_names(items: Sequence[Named]) -> None:
    """Short display names: the file name, with as many parent folders as make it unique."""
    parts = [Path(item.path.replace("\\", "/")).parts or (item.path,) for item in items]
    depth = [1] * len(items)
    for _ in range(8):
        names = ["/".join(p[-d:]) for p, d in zip(parts, depth)]
        paths: dict[str, set[str]] = {}
        for n, item in zip(names, items):  # one file's results by several methods share its name
            paths.setdefault(n, set()).add(item.path)
        clashes = {n for n, found in paths.items() if len(found) > 1}
        if not clashes:
            break
        for i, n in enumerate(names):
            if n in clashes and depth[i] < len(parts[i]):
                depth[i] += 1
    for item, p, d in zip(items, parts, depth):
        item.name = "/".join(p[-d:]) if p else item.path
