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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from imlforensic.io.atomic import probe_writable, remove_stale_temporaries
from imlforensic.io.hashing import sha256_file
from imlforensic.io.images import DEFAULT_MAX_PIXELS, ImageLoadError, load_image_and_bytes
from imlforensic.io.messages import one_line
from imlforensic.pipeline.analysis import Analyzer
from imlforensic.pipeline.batch import BatchResult, InputFailure, run_batch
from imlforensic.pipeline.evidence import EvidenceOptions, read_file_evidence
from imlforensic.pipeline.inputs import Expansion, InputItem, expand_inputs
from imlforensic.pipeline.outputs import (
    OutputSet,
    encode_maps,
    encode_views,
    has_views,
    map_kinds,
    read_existing,
    write_encoded,
    write_record,
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
    """Whether an earlier record was made by this analyzer's method (name and version: a new version
    may change the fusion around the same weights), weights, refiner and threshold
    (``settings.threshold``: the one asked for, before the reliability notes may have raised it)."""
    method, refiner = analyzer.method_card, analyzer.refiner_card
    return (
        record.method is not None
        and method is not None
        and record.method.name == method.name
        and record.method.version == method.version
        and record.method.weights_sha256 == method.weights_sha256
        and (record.refiner.name if record.refiner else None) == (refiner.name if refiner else None)
        and record.settings.threshold == analyzer.threshold
    )


def method_folders(analyzers: list[Analyzer]) -> list[str]:
    """The sub-folder of each analyzer's outputs: none for one method, the method's name for several."""
    if len(analyzers) == 1:
        return [""]
    names = [analyzer.method_name or "input" for analyzer in analyzers]
    if len(set(names)) != len(names):
        raise ValueError("each method may be named once")
    return names


@dataclass
class MethodSlot:
    """One analyzer of a run and where and how its outputs go."""

    analyzer: Analyzer
    folder: str  # sub-folder of --out ("" for one method)
    kinds: tuple[str, ...]  # map kinds written (none for detect)
    settings: RunSettings


@dataclass
class Product:
    """One image analysed by one method: its record and its encoded maps and views (not yet written)."""

    record: ResultRecord
    maps: dict[str, bytes] = field(default_factory=dict)
    views: dict[str, bytes] = field(default_factory=dict)  # --views: rendered once per image, by kind
    view_notes: list[str] = field(default_factory=list)
    view_seconds: float | None = None


@dataclass
class Prepared:
    """What a run knows before its first image: the inputs, the loaded methods and the notes."""

    expansion: Expansion
    slots: list[MethodSlot]
    notes: list[str] = field(default_factory=list)  # entries left out on purpose, cleaned temporaries
    cleaned: list[Path] = field(default_factory=list)  # temporary files of a killed run, removed

    def report(self, batch: BatchResult, records: list[ResultRecord]) -> RunReport:
        return RunReport(
            batch=batch, problems=self.expansion.problems, notes=self.notes, cleaned=self.cleaned, records=records
        )


def prepare(
    request: RunRequest, on_expansion: Callable[[list[tuple[str, str]], list[str]], None] | None = None
) -> Prepared:
    """Expand the inputs, check the output folder and load every model (the run's global checks).

    Raises :class:`NoInputsError`, :class:`OutputFolderError` or :class:`MethodLoadError`; a
    missing output folder is created only after every model has loaded.
    ``on_expansion(problems, notes)`` hears, before any model is loaded, the inputs that failed
    to be found or read and the entries left out on purpose.
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
    out = request.out if expansion.items else None
    # An existing output folder is checked (and cleaned of a killed run's temporaries) before the
    # models load; a new one is made only once they have loaded, so a method that cannot load
    # (missing weights) leaves no empty folder behind.
    cleaned = check_writable(out) if out is not None and out.exists() else []
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
    if out is not None and not out.exists():
        check_writable(out)
    slots = [
        MethodSlot(
            analyzer=analyzer,
            folder=folder,
            kinds=map_kinds(analyzer.refiner_entry is not None) if request.write_maps else (),
            settings=RunSettings(
                command=request.command,
                device=request.device,
                max_pixels=request.max_pixels,
                threshold=analyzer.threshold,
            ),
        )
        for analyzer, folder in zip(request.analyzers, method_folders(request.analyzers))
    ]
    return Prepared(expansion=expansion, slots=slots, notes=notes, cleaned=cleaned)


def output_set(request: RunRequest, slot: MethodSlot, item: InputItem) -> OutputSet | None:
    return OutputSet(request.out / slot.folder / item.rel) if request.out is not None else None


def existing_records(request: RunRequest, slots: list[MethodSlot], item: InputItem) -> list[ResultRecord | None]:
    """Per slot, the record of an earlier run to reuse (``--skip-existing``), else None."""
    if not request.skip_existing:
        return [None] * len(slots)
    found: list[ResultRecord | None] = []
    for slot in slots:
        outputs = output_set(request, slot, item)
        existing = _existing(outputs, slot.kinds, item, slot.analyzer)
        if existing is not None and outputs is not None and not has_views(existing, outputs, request.views):
            existing = None  # asked for views it does not have
        found.append(existing)
    return found


@dataclass(frozen=True)
class ItemWork:
    """What is done to every image of a run besides the methods (picklable, for Ray actors)."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    evidence: EvidenceOptions | None = None  # None: the file's metadata is not read
    views: tuple[str, ...] = ()  # rendered only when there is an output folder to write them to

    @classmethod
    def of(cls, request: RunRequest) -> ItemWork:
        views = request.views if request.out is not None else ()
        return cls(max_pixels=request.max_pixels, evidence=request.evidence, views=views)


def analyse_item(
    item: InputItem, slots: list[MethodSlot], todo: list[int], work: ItemWork
) -> Iterator[tuple[int, Product]]:
    """Decode ``item`` once, read its file evidence once from the same bytes, and analyse it with
    the slots numbered in ``todo``, one after the other (maps, and the views rendered once,
    encoded in memory); yields ``(slot index, product)``.

    The same function runs in this process (:func:`run_inputs`) and on Ray actors
    (:mod:`imlforensic.pipeline.ray_batch`), which is why their results are the same bytes.
    """
    if not todo:
        return
    image, data = load_image_and_bytes(item.path, max_pixels=work.max_pixels, display=item.display)
    evidence = read_file_evidence(image, data, work.evidence) if work.evidence is not None else None
    del data
    views: dict[str, bytes] = {}
    view_notes: list[str] = []
    view_seconds: float | None = None
    for index in todo:
        slot = slots[index]
        analysis = slot.analyzer.analyse(image, evidence=evidence)
        record = analysis.record(slot.settings)
        if work.views and view_seconds is None:  # after the first analysis, as the views' timing always was
            started = time.perf_counter()
            pictures, view_notes = render_views(image, work.views)
            views = encode_views(pictures)
            view_seconds = time.perf_counter() - started
        maps = encode_maps(analysis) if slot.kinds else {}
        yield index, Product(record, maps, views, list(view_notes), view_seconds)


def store(product: Product, outputs: OutputSet | None, item: InputItem) -> ResultRecord:
    """Write a product's maps and then its record (when there is an output folder)."""
    record = product.record
    if outputs is not None:
        record.output_name = item.output_name  # the input -> output name mapping
        try:
            record.outputs.update(write_encoded(product.maps, outputs))
            if product.view_seconds is not None:
                record.outputs.update(write_encoded(product.views, outputs))
                record.notes += product.view_notes
                record.timings_s["views"] = product.view_seconds
            write_record(record, outputs)
        except OSError as exc:
            raise InputFailure(f"cannot write outputs in {outputs.base.parent}: {exc.strerror or exc}") from None
    return record


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
    prepared = prepare(request, on_expansion)
    slots, work = prepared.slots, ItemWork.of(request)
    collected: list[ResultRecord] = []

    def job(item: InputItem) -> tuple[list[ResultRecord], bool]:
        records = existing_records(request, slots, item)
        todo = [index for index, record in enumerate(records) if record is None]
        for index, product in analyse_item(item, slots, todo, work):
            records[index] = store(product, output_set(request, slots[index], item), item)  # as each is done
        return [record for record in records if record is not None], not todo

    def collect(record: ResultRecord) -> None:
        collected.append(record)
        if on_record is not None:
            on_record(record)

    batch = run_batch(
        prepared.expansion.items, job, on_record=collect, show_progress=show_progress, description=request.command
    )
    return prepared.report(batch, collected)


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
