"""One read-only view of a result record, for the summary CSV and the HTML case viewer.

Today a record is the JSON object that ``localize`` / ``detect`` write (``NAME.json``, schema
``imlforensic.result/1``; failed inputs ``imlforensic.error/1``). :func:`as_record_dict` is the one
place where another form plugs in: a mapping is used as it is, an object with ``to_json()`` (the
typed records to come) or a dataclass is turned into the same dict first. Everything else reads
the dict through :func:`case_entry`, tolerating the fields that later records will add
(``regions``, ``provenance``, ``metadata``, ``jpeg``, ``notes``) and their absence.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULT_SCHEMA = "imlforensic.result/1"
ERROR_SCHEMA = "imlforensic.error/1"
VERDICTS = ("authentic", "manipulated", "generated")


def as_record_dict(record: Any) -> dict[str, Any]:
    """The record as a JSON-ready dict, whatever form it comes in (see the module docstring)."""
    if isinstance(record, Mapping):
        return dict(record)
    to_json = getattr(record, "to_json", None)
    if callable(to_json):
        value = to_json()
        return json.loads(value) if isinstance(value, str) else dict(value)
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return dataclasses.asdict(record)
    raise TypeError(f"not a result record: {type(record).__name__}")


@dataclass
class CaseEntry:
    """What the summary and the viewer show about one image."""

    record: dict[str, Any]
    status: str  # "ok" | "failed"
    path: str  # the input as the user named it
    resolved_path: str = ""
    sha256: str = ""
    width: int = 0
    height: int = 0
    format: str = ""
    verdict: str = ""
    score: float | None = None
    class_probs: dict[str, float] = field(default_factory=dict)
    flagged_fraction: float | None = None
    method: str = ""  # "name version"
    threshold: float | None = None
    regions: dict[str, Any] | None = None  # the record's ``regions`` (forensics.regions.Regions.to_json())
    notes: list[str] = field(default_factory=list)
    folder: Path | None = None  # where the record's output files lie
    outputs: dict[str, Path] = field(default_factory=dict)  # kind -> existing file
    name: str = ""  # a short display name, unique in a case (set by whoever lists several)

    @property
    def largest_region(self) -> dict[str, Any] | None:
        listed = (self.regions or {}).get("regions") or []
        return listed[0] if listed else None

    @property
    def region_count(self) -> int | None:
        return None if self.regions is None else int(self.regions.get("count", len(self.regions.get("regions") or [])))


def _notes(record: dict[str, Any]) -> list[str]:
    notes: list[str] = [f"Verdict: {record['verdict_reason']}"] if record.get("verdict_reason") else []
    notes += [str(n) for n in record.get("notes") or [] if n]
    provenance = record.get("provenance") or {}
    declared = provenance.get("declared_ai") or {}
    if declared.get("reason"):
        notes.append(str(declared["reason"]))
    c2pa = provenance.get("c2pa") or {}
    if c2pa.get("message") and c2pa.get("status") not in (None, "no_manifest"):
        notes.append(str(c2pa["message"]))
    notes += [str(n) for n in (record.get("metadata") or {}).get("notes") or []]
    double = (record.get("jpeg") or {}).get("double_compression") or {}
    if double.get("status") == "double" and double.get("message"):
        notes.append(str(double["message"]))
    if record.get("schema") == ERROR_SCHEMA and record.get("error"):
        notes.append(f"failed: {record['error']}")
    unique = list(dict.fromkeys(notes))
    return [n for n in unique if not any(n != other and n in other for other in unique)]  # said once


def case_entry(record: Any, folder: Path | None = None) -> CaseEntry:
    """The view of one record; ``folder``: where its output files are (names from ``outputs``)."""
    data = as_record_dict(record)
    info = data.get("input") or {}
    method = data.get("method") or {}
    failed = data.get("schema") == ERROR_SCHEMA
    outputs: dict[str, Path] = {}
    if folder is not None:
        for kind, name in (data.get("outputs") or {}).items():
            if isinstance(name, str) and kind != "json":
                candidate = Path(folder) / Path(name).name  # never follow a path out of the results folder
                if candidate.is_file():
                    outputs[kind] = candidate
    probs = data.get("class_probs") or {}
    return CaseEntry(
        record=data,
        status="failed" if failed else "ok",
        path=str(info.get("path") or info.get("resolved_path") or "?"),
        resolved_path=str(info.get("resolved_path") or ""),
        sha256=str(info.get("sha256") or ""),
        width=int(info.get("width") or 0),
        height=int(info.get("height") or 0),
        format=str(info.get("format") or ""),
        verdict=str(data.get("verdict") or ("failed" if failed else "")),
        score=_float(data.get("score")),
        class_probs={str(k): float(v) for k, v in probs.items() if _float(v) is not None},
        flagged_fraction=_float(data.get("flagged_fraction")),
        method=" ".join(str(method.get(k)) for k in ("name", "version") if method.get(k))
        if isinstance(method, dict)
        else str(method),
        threshold=_float(data.get("threshold")),
        regions=data.get("regions") if isinstance(data.get("regions"), dict) else None,
        notes=_notes(data),
        folder=Path(folder) if folder is not None else None,
        outputs=outputs,
    )


def _float(value: Any) -> float | None:
    try:
        return None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None


def _natural(text: str) -> list[Any]:
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", text)]


def load_case(results_dir: Path | str) -> list[CaseEntry]:
    """Every result (and error) record below ``results_dir``, with its outputs, in natural order of
    the input paths."""
    results_dir = Path(results_dir)
    entries = []
    for root, dirs, files in os.walk(results_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.endswith(".json") or name.startswith("."):
                continue
            try:
                data = json.loads((Path(root) / name).read_text(encoding="utf-8"))
            except (OSError, ValueError, UnicodeDecodeError):
                continue
            if isinstance(data, dict) and data.get("schema") in (RESULT_SCHEMA, ERROR_SCHEMA):
                entries.append(case_entry(data, Path(root)))
    return sorted(entries, key=lambda e: _natural(e.path))


def locate(records: Iterable[Any], results_dir: Path | str) -> list[CaseEntry]:
    """Entries for records held in memory, their outputs found below ``results_dir``: the folder
    holding the record's own ``NAME.json`` (``outputs.json``) for the same input sha256, else
    ``results_dir`` itself."""
    results_dir = Path(results_dir)
    index: dict[str, list[Path]] = {}
    for root, dirs, files in os.walk(results_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.endswith(".json"):
                index.setdefault(name, []).append(Path(root))
    entries = []
    for record in records:
        data = as_record_dict(record)
        name = str((data.get("outputs") or {}).get("json") or "")
        sha = (data.get("input") or {}).get("sha256")
        folder = results_dir
        for candidate in index.get(Path(name).name, []) if name else []:
            try:
                stored = json.loads((candidate / Path(name).name).read_text(encoding="utf-8"))
            except (OSError, ValueError, UnicodeDecodeError):
                continue
            if (stored.get("input") or {}).get("sha256") == sha:
                folder = candidate
                break
        entries.append(case_entry(data, folder))
    return entries
