"""Analyse many inputs with one or more methods: what ``detect``, ``localize`` and ``report`` share.

Inputs are expanded (:mod:`.inputs`), each image is decoded once, its file evidence
(provenance, metadata, JPEG structure: :mod:`.evidence`) read once from the same bytes, and both
are given to every :class:`~imlforensic.pipeline.analysis.Analyzer`; with ``--out`` each record (and, for
``localize``, its maps) is written under the output folder: directly when one method runs, in a
sub-folder per method (``OUT/METHOD/...``) when several do, so their outputs never overwrite each
other. With ``views`` (``localize --views``), the forensic views are rendered once per image and
written beside the maps (:mod:`imlforensic.views.pictures`). ``skip_existing`` reuses outputs made from the same bytes with the same method, weights,
refiner and threshold (a resumed batch). A failing input is reported and the batch goes on
(:mod:`.batch`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from imlforensic.io.atomic import probe_writable, remove_stale_temporaries
from imlforensic.io.hashing import sha256_file
from imlforensic.io.images import DEFAULT_MAX_PIXELS, ImageLoadError, LoadedImage, load_image_and_bytes
from imlforensic.io.messages import one_line
from imlforensic.pipeline.analysis import Analyzer
from imlforensic.pipeline.batch import BatchResult, InputFailure, run_batch
from imlforensic.pipeline.evidence import EvidenceOptions, FileEvidence, read_file_evidence
from imlforensic.pipeline.inputs import InputItem, expand_inputs
from imlforensic.pipeline.outputs import (
    OutputSet,
    has_views,
    map_kinds,
    read_existing,
    write_maps,
    write_record,
    write_views,
)
from imlforensic.pipeline.records import ErrorRecord, ResultRecord, RunSettings
from imlforensic.registry.weights import WeightsError
from imlforensic.views.pictures import render_views


class OutputFolderError(Exception):
    """The output folder cannot be created or written (one-line message)."""


class NoInputsError(Exception):
    """The input arguments name no image file."""


class MethodLoadError(Exception):
    """A method or refiner cannot be built (missing weights or package, bad checkpoint)."""


@dataclass
class RunRequest:
    command: str  # "detect" | "localize" (recorded in the settings)
    inputs: list[str]
    analyzers: list[Analyzer]
    out: Path | None = None
    write_maps: bool = False
    skip_existing: bool = False
    recursive: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS
    device: str = "auto"
    include_hidden: bool = False  # analyse hidden files and folders found in folders
    evidence: EvidenceOptions | None = field(default_factory=EvidenceOptions)  # None: the file's metadata is not read
    views: tuple[str, ...] = ()  # with --out: the forensic views written as pictures (views.pictures)


@dataclass
class RunReport:
    batch: BatchResult
    problems: list[tuple[str, str]]  # (argument or entry, reason): inputs that failed before analysis
    notes: list[str] = field(default_factory=list)  # entries left out on purpose, each named
    cleaned: list[Path] = field(default_factory=list)  # temporary files of a killed run, removed
    records: list[ResultRecord] = field(default_factory=list)

    @property
    def errors(self) -> list[ErrorRecord]:
        failed = [ErrorRecord(path=display, error=message) for display, message in self.batch.failed]
        return failed + [ErrorRecord(path=name, error=reason) for name, reason in self.problems]

    @property
    def failed_names(self) -> list[str]:
        return [display for display, _ in self.batch.failed] + [name for name, _ in self.problems]

    @property
    def failures(self) -> int:
        return len(self.batch.failed) + len(self.problems)


def check_writable(folder: Path) -> list[Path]:
    """Raise :class:`OutputFolderError` when ``folder`` cannot be created or written; remove the
    temporary files a killed run left below it (:mod:`imlforensic.io.atomic`) and return them."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe_writable(folder)
        return remove_stale_temporaries(folder)
    except OSError as exc:
        raise OutputFolderError(f"cannot write to output folder {folder}: {exc.strerror or exc}") from None


def same_setup(record: ResultRecord, analyzer: Analyzer) -> bool:
    """Whether an earlier record was made by this analyzer's method, weights, refiner and threshold."""
    method, refiner = analyzer.method_card, analyzer.refiner_card
    return (
        record.method is not None
        and method is not None
        and record.method.name == method.name
        and record.method.weights_sha256 == method.weights_sha256
        and (record.refiner.name if record.refiner else None) == (refiner.name if refiner else None)
        and (record.threshold == analyzer.threshold or _raised_by_reliability(record, analyzer))
    )


def _raised_by_reliability(record: ResultRecord, analyzer: Analyzer) -> bool:
    """The earlier record used the conservative threshold this analyzer would use again (the
    picture is outside the domain and the threshold is the method's own)."""
    reliability = record.reliability
    return (
        reliability is not None
        and analyzer.conservative
        and analyzer.user_threshold is None
        and reliability.conservative_threshold == record.threshold
        and analyzer.threshold < (record.threshold or 0.0)
    )


def method_folders(analyzers: list[Analyzer]) -> list[str]:
    """The sub-folder of each analyzer's outputs: none for one method, the method's name for several."""
    if len(analyzers) == 1:
        return [""]
    names = [analyzer.method_name or "input" for analyzer in analyzers]
    if len(set(names)) != len(names):
        raise ValueError("each method may be named once")
    return names


def run_inputs(
    request: RunRequest,
    on_record: Callable[[ResultRecord], None] | None = None,
    show_progress: bool = True,
    on_expansion: Callable[[list[tuple[str, str]], list[str]], None] | None = None,
) -> RunReport:
    """Analyse every input with every analyzer (see the module docstring).

    Raises :class:`NoInputsError` when nothing was found, :class:`OutputFolderError` when ``out``
    cannot be written and :class:`MethodLoadError` when a model cannot be built; every per-input
    problem is in the report instead. ``on_expansion(problems, notes)`` hears, before any image
    is analysed, the inputs that failed to be found or read and the entries left out on purpose.
    """
    expansion = expand_inputs(
        request.inputs,
        recursive=request.recursive,
        exclude=[request.out] if request.out is not None else [],
        include_hidden=request.include_hidden,
    )
    if not expansion.items and not expansion.problems:
        raise NoInputsError(
            "no image files found in the given inputs" + ("" if request.recursive else " (folders: add --recursive?)")
        )
    cleaned = check_writable(request.out) if request.out is not None and expansion.items else []
    notes = list(expansion.notes)
    if cleaned:
        notes.append(f"removed {len(cleaned)} temporary file(s) an interrupted run left in {request.out}")
    if on_expansion is not None:  # said before the batch starts: what failed or was left out
        on_expansion(expansion.problems, notes)
    for analyzer in request.analyzers:
        try:
            analyzer.load()
        except (WeightsError, ImportError, ValueError, RuntimeError, TypeError) as exc:
            what = f"{analyzer.method_name!r}" + (
                f" with refiner {analyzer.refiner_entry.name!r}" if analyzer.refiner_entry else ""
            )
            raise MethodLoadError(f"cannot load {what}: {one_line(exc)}") from None
    folders = method_folders(request.analyzers)
    kinds = [
        map_kinds(analyzer.refiner_entry is not None) if request.write_maps else () for analyzer in request.analyzers
    ]
    settings = [
        RunSettings(
            command=request.command, device=request.device, max_pixels=request.max_pixels, threshold=analyzer.threshold
        )
        for analyzer in request.analyzers
    ]
    collected: list[ResultRecord] = []

    def job(item: InputItem) -> tuple[list[ResultRecord], bool]:
        image: LoadedImage | None = None
        evidence: FileEvidence | None = None
        views: tuple[dict[str, np.ndarray], list[str], float] | None = None  # rendered once per image
        records, reused = [], 0
        for analyzer, folder, kind, setting in zip(request.analyzers, folders, kinds, settings):
            outputs = OutputSet(request.out / folder / item.rel) if request.out is not None else None
            existing = _existing(outputs, kind, item, analyzer) if request.skip_existing else None
            if existing is not None and outputs is not None and not has_views(existing, outputs, request.views):
                existing = None
            if existing is not None:
                records.append(existing)
                reused += 1
                continue
            if image is None:  # decoded once, its file evidence read once from the same bytes, for every method
                image, data = load_image_and_bytes(item.path, max_pixels=request.max_pixels, display=item.display)
                if request.evidence is not None:
                    evidence = read_file_evidence(image, data, request.evidence)
                del data
            analysis = analyzer.analyse(image, evidence=evidence)
            record = analysis.record(setting)
            if outputs is not None and request.views and views is None:
                started = time.perf_counter()
                pictures, view_notes = render_views(image, request.views)
                views = (pictures, view_notes, time.perf_counter() - started)
            if outputs is not None:
                record.output_name = item.output_name  # the input -> output name mapping
                try:
                    if kind:
                        record.outputs.update(write_maps(analysis, outputs))
                    if views is not None:
                        record.outputs.update(write_views(views[0], outputs))
                        record.notes += views[1]
                        record.timings_s["views"] = views[2]
                    write_record(record, outputs)
                except OSError as exc:
                    raise InputFailure(
                        f"cannot write outputs in {outputs.base.parent}: {exc.strerror or exc}"
                    ) from None
            records.append(record)
        return records, reused == len(records)

    def collect(record: ResultRecord) -> None:
        collected.append(record)
        if on_record is not None:
            on_record(record)

    batch = run_batch(expansion.items, job, on_record=collect, show_progress=show_progress, description=request.command)
    return RunReport(batch=batch, problems=expansion.problems, notes=notes, cleaned=cleaned, records=collected)


def _existing(
    outputs: OutputSet | None, kinds: tuple[str, ...], item: InputItem, analyzer: Analyzer
) -> ResultRecord | None:
    if outputs is None:
        return None
    try:
        existing = read_existing(outputs, kinds, sha256_file(item.path))
    except OSError as exc:
        raise ImageLoadError(f"{item.display}: cannot read ({exc.strerror or exc})") from None
    return existing if existing is not None and same_setup(existing, analyzer) else None
