"""What ``imlforensic serve`` does per request, without HTTP: warm models, a bounded queue, results.

* **Models** are built once per process by the registry and stay loaded; the server builds the
  methods named at start-up before it listens (and runs one small picture through each, so the
  first request pays no lazy initialisation). Other registered methods are built on the first
  request that names them.
* **Concurrency**: requests are analysed on ``workers`` threads. A built model is shared by
  every request that uses it, so each analysis holds the lock of its method (and of its
  refiner) while :meth:`Analyzer.analyse` runs: one analysis per model at a time, different
  models in parallel; decoding and PNG encoding run outside the locks.
* **Queue**: at most ``queue`` requests are admitted at once (running or waiting); one more is
  refused at once (:class:`Busy`, HTTP 503 with ``Retry-After``) instead of piling up.
* **Limits**: uploads above ``max_bytes`` are refused before they are read in full, pictures
  above ``max_pixels`` before they are decoded.
* **Results**: the JSON record of :meth:`Analysis.record` (the CLI's, the file's evidence read
  from the uploaded bytes as ``localize`` reads it from the file), with the maps that
  ``localize`` writes as PNG bytes, encoded by :func:`imlforensic.pipeline.outputs.encode_maps`
  (the same bytes); kept in memory, oldest first out, up to ``result_bytes``, for their URLs.
"""

from __future__ import annotations

import base64
import secrets
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from imlforensic.io.images import ImageLoadError, decode_image_bytes
from imlforensic.io.messages import one_line
from imlforensic.pipeline.analysis import Analyzer
from imlforensic.pipeline.evidence import EvidenceOptions, read_file_evidence
from imlforensic.pipeline.outputs import OUTPUT_KINDS, encode_maps
from imlforensic.pipeline.records import RunSettings
from imlforensic.registry import DEFAULT_METHOD, REGISTRY, UnknownModelError, WeightsError

MAP_MODES = ("url", "inline", "none")


class RequestError(Exception):
    """A request the server refuses: ``status`` (4xx) and a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Busy(Exception):
    """The queue is full (HTTP 503)."""


@dataclass
class ServerConfig:
    methods: list[str] = field(default_factory=lambda: [DEFAULT_METHOD])  # built before listening
    device: str = "auto"
    max_bytes: int = 50_000_000
    max_pixels: int = 50_000_000
    queue: int = 16
    workers: int = 2
    result_bytes: int = 256_000_000
    token: str | None = None


@dataclass(frozen=True)
class Options:
    """The analysis options of one request (the CLI's: method, threshold, refiner) and the map form."""

    method: str = DEFAULT_METHOD
    threshold: float | None = None
    refiner: str | None = None
    maps: str = "url"


def check_options(method: str | None, threshold: float | None, refiner: str | None, maps: str | None) -> Options:
    """Validate a request's options against the registry (:class:`RequestError` 400 otherwise)."""
    name = method or DEFAULT_METHOD
    for value, task, what in (
        (name, ("detector", "classifier"), "a detection method"),
        (refiner, ("segmenter",), "a refiner"),
    ):
        if value is None:
            continue
        try:
            entry = REGISTRY.entry(value)
        except UnknownModelError as exc:
            raise RequestError(400, str(exc)) from None
        if entry.task not in task:
            raise RequestError(400, f"{value!r} is a {entry.task}, not {what} (see GET /v1/models)")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise RequestError(400, f"threshold must be between 0 and 1, got {threshold}")
    mode = maps or "url"
    if mode not in MAP_MODES:
        raise RequestError(400, f"maps must be one of {', '.join(MAP_MODES)}, got {mode!r}")
    return Options(method=name, threshold=threshold, refiner=refiner or None, maps=mode)


class ResultStore:
    """Encoded maps by result id, oldest dropped first beyond ``budget`` bytes."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._items: OrderedDict[str, dict[str, bytes]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def put(self, maps: dict[str, bytes]) -> str:
        key = secrets.token_urlsafe(12)
        size = sum(len(v) for v in maps.values())
        with self._lock:
            self._items[key] = maps
            self._size += size
            while self._size > self.budget and len(self._items) > 1:
                _, dropped = self._items.popitem(last=False)
                self._size -= sum(len(v) for v in dropped.values())
        return key

    def get(self, key: str, kind: str) -> bytes | None:
        with self._lock:
            return self._items.get(key, {}).get(kind)


class Engine:
    """Analyses uploaded pictures with warm models (see the module docstring)."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.results = ResultStore(config.result_bytes)
        self.executor = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="imlforensic-serve")
        self._model_locks: dict[str, threading.Lock] = {}
        self._admitted = 0
        self._lock = threading.Lock()
        self.served = 0

    # -- models ----------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Build the start-up methods and run a small picture through each (raises on a bad model)."""
        picture = _warm_up_png()
        for name in self.config.methods:
            self.analyse(picture, "warm-up.png", check_options(name, None, None, "none"), count=False)

    def _analyzer(self, options: Options) -> Analyzer:
        try:
            return Analyzer(
                options.method, device=self.config.device, threshold=options.threshold, refiner=options.refiner
            ).load()
        except (WeightsError, ImportError, ValueError, RuntimeError, TypeError) as exc:
            raise RequestError(503, f"cannot load {options.method!r}: {one_line(exc)}") from None

    def _locks(self, analyzer: Analyzer) -> list[threading.Lock]:
        names = sorted(e.name for e in (analyzer.method_entry, analyzer.refiner_entry) if e is not None)
        with self._lock:
            return [self._model_locks.setdefault(name, threading.Lock()) for name in names]

    def warm(self) -> list[str]:
        return [name for name in REGISTRY.names() if REGISTRY.is_loaded(name)]

    # -- queue -----------------------------------------------------------------------------
    def admit(self) -> None:
        with self._lock:
            if self._admitted >= self.config.queue:
                raise Busy(f"the server is busy ({self._admitted} requests queued, the limit); retry shortly")
            self._admitted += 1

    def release(self) -> None:
        with self._lock:
            self._admitted -= 1

    @property
    def in_flight(self) -> int:
        return self._admitted

    # -- analysis --------------------------------------------------------------------------
    def analyse(self, data: bytes, filename: str, options: Options, count: bool = True) -> dict[str, Any]:
        """One uploaded picture through the pipeline; the JSON record, maps as URLs or inline."""
        name = Path(filename or "upload").name or "upload"
        try:
            image = decode_image_bytes(data, Path(name), max_pixels=self.config.max_pixels, display=name)
        except ImageLoadError as exc:
            raise RequestError(422, str(exc)) from None
        evidence = read_file_evidence(image, data, EvidenceOptions())  # as localize: once, from the same bytes
        analyzer = self._analyzer(options)
        with ExitStack() as stack:
            for lock in self._locks(analyzer):
                stack.enter_context(lock)
            analysis = analyzer.analyse(image, evidence=evidence)
        settings = RunSettings(
            command="serve", device=self.config.device, max_pixels=self.config.max_pixels, threshold=analyzer.threshold
        )
        record = analysis.record(settings)
        record.input.resolved_path = None  # an upload has no path on this machine
        if options.maps != "none":
            maps = encode_maps(analysis)
            if options.maps == "inline":
                record.outputs.update(
                    {
                        kind: "data:image/png;base64," + base64.b64encode(png).decode("ascii")
                        for kind, png in maps.items()
                    }
                )
            else:
                key = self.results.put(maps)
                record.outputs.update({kind: f"/v1/results/{key}/{kind}.png" for kind in maps})
        if count:
            with self._lock:
                self.served += 1
        return record.to_json()

    def result(self, key: str, kind: str) -> bytes | None:
        return self.results.get(key, kind) if kind in OUTPUT_KINDS else None

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def _warm_up_png() -> bytes:
    from imlforensic.io.render import encode_png

    rng = np.random.default_rng(0)
    return encode_png(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8))
