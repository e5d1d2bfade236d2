"""The JSON records the tool writes, as typed dataclasses with one ``to_json`` / ``from_json``.

Result record (``NAME.json``, and one line of ``--json`` output), schema ``imlforensic.result/1``::

    input      path, resolved path, sha256 of the file's bytes, bytes, format, mode, width, height
               (as displayed), exif_orientation, conversions applied, estimated JPEG quality
    verdict    authentic | manipulated | generated; ``annotated`` when the mask comes from an
               analyst's boxes (``refine --box``): an annotation, not a finding of the tool
    method_verdict  the method's own verdict, from the pixels alone (null for an annotation)
    verdict_reason  why ``verdict`` differs from it (a declared generated picture, see
               :mod:`imlforensic.pipeline.evidence`), null when it does not
    score      image-level probability of an edit in [0, 1] (null for an annotation)
    class_probs  probabilities of authentic / manipulated / generated (sum 1; a localizer gives
               0 to generated), null for an annotation
    flagged_fraction  share of pixels in the mask
    method, refiner   model cards: name, task, version, weights sha256, reference, classes (an
               analyst's map or boxes: task ``input``, with its path and sha256)
    details    numbers behind the method's map (mvcam: ``background_shift_logit``, how far it
               lowered a network map raised over the whole image; ``copy_move_pairs``, how many
               duplicated region pairs the copy-move view found; ``copy_move_repetitions``, how
               many it set aside as natural repetition), ``{}`` when it has none
    regions    the mask's connected regions, largest first (count, flagged_fraction, width, height,
               and per region: number, box x0 y0 x1 y1 with x1 y1 exclusive, area_px, area_fraction,
               mean and peak probability, peak_xy, centroid_xy; :mod:`imlforensic.forensics.regions`)
    provenance C2PA manifest (status, content_matches, claim generator, generator, signer,
               actions, digital source types), XMP digital source types, software named, and
               ``declared_ai`` (:mod:`imlforensic.forensics.provenance`); null when not read
    metadata   selected EXIF fields, GPS present or not, editing software named, the EXIF
               thumbnail against the picture (:mod:`imlforensic.forensics.metadata`); null when not read
    jpeg       quantisation tables, estimated quality, table family, double-compression estimate
               (:mod:`imlforensic.forensics.jpeg`); null for other formats or when not read
    notes      sentences about evidence that was weighed but did not decide the verdict
    threshold, settings (command, device, max_pixels, threshold; boxes and notes for refine),
    outputs (file names by kind), timings_s, tool, created,
    origin     ``method`` (the tool's analysis), ``heatmap`` (an analyst's map, refined) or
               ``boxes`` (an analyst's boxes turned into a mask)
    reliability  whether the picture is of the kind the method was made for: ``in_domain``,
               ``flags`` (small, graphics, upscaled, heavy_recompression, huge), ``notes`` (the
               same in words), ``measures``, ``conservative_threshold`` (the raised threshold the
               verdict used outside the domain, else null); see imlforensic.forensics.domain

Error record (``--json`` line of a failed input), schema ``imlforensic.error/1``:
``{"schema", "input": {"path"}, "error"}``.

Records of earlier versions read back with missing fields as ``None``; fields this version does
not know are kept (``extra``) and written back unchanged.
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, field
from typing import Any, Literal

from imlforensic import __version__
from imlforensic.forensics.domain import Reliability
from imlforensic.io.images import LoadedImage
from imlforensic.io.paths import printable
from imlforensic.registry.cards import ModelCard

RESULT_SCHEMA = "imlforensic.result/1"
ERROR_SCHEMA = "imlforensic.error/1"
SCHEMAS = (RESULT_SCHEMA, ERROR_SCHEMA)

Origin = Literal["method", "heatmap", "boxes"]
ANNOTATED = "annotated"
"""The verdict of a record whose mask is an analyst's annotation (``origin`` = ``boxes``)."""


def _known(data: dict[str, Any], names: set[str]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if key not in names}


def _optional(value: Any, kind: type) -> Any:
    try:
        return None if value is None else kind(value)
    except (TypeError, ValueError):
        return None


def _mapping(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


@dataclass
class InputInfo:
    """The input file, as found and decoded."""

    path: str
    resolved_path: str | None = None
    sha256: str | None = None
    bytes: int | None = None
    format: str | None = None
    mode: str | None = None
    width: int | None = None
    height: int | None = None
    exif_orientation: int | None = None
    conversions: list[str] = field(default_factory=list)
    jpeg_quality: int | None = None
    warnings: list[str] = field(default_factory=list)  # decoder warnings that did not refuse the file
    extra: dict[str, Any] = field(default_factory=dict)

    FIELDS = (
        "path",
        "resolved_path",
        "sha256",
        "bytes",
        "format",
        "mode",
        "width",
        "height",
        "exif_orientation",
        "conversions",
        "jpeg_quality",
        "warnings",
    )

    @classmethod
    def of(cls, image: LoadedImage) -> InputInfo:
        """Paths as printable text (names that are not UTF-8 get ``\\xNN``, see :mod:`imlforensic.io.paths`)."""
        return cls(
            path=printable(image.display or str(image.path)),
            resolved_path=printable(os.path.realpath(image.path)),
            sha256=image.sha256,
            bytes=image.n_bytes,
            format=image.format,
            mode=image.mode,
            width=image.width,
            height=image.height,
            exif_orientation=image.exif_orientation,
            conversions=list(image.conversions),
            jpeg_quality=image.jpeg_quality,
            warnings=list(image.warnings),
        )

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.FIELDS} | self.extra

    @classmethod
    def from_json(cls, data: Any) -> InputInfo:
        data = data if isinstance(data, dict) else {}
        conversions = data.get("conversions")
        return cls(
            path=str(data.get("path") or data.get("resolved_path") or "?"),
            resolved_path=_optional(data.get("resolved_path"), str),
            sha256=_optional(data.get("sha256"), str),
            bytes=_optional(data.get("bytes"), int),
            format=_optional(data.get("format"), str),
            mode=_optional(data.get("mode"), str),
            width=_optional(data.get("width"), int),
            height=_optional(data.get("height"), int),
            exif_orientation=_optional(data.get("exif_orientation"), int),
            conversions=[str(c) for c in conversions] if isinstance(conversions, list) else [],
            jpeg_quality=_optional(data.get("jpeg_quality"), int),
            warnings=[str(w) for w in data["warnings"]] if isinstance(data.get("warnings"), list) else [],
            extra=_known(data, set(cls.FIELDS)),
        )


@dataclass
class RunSettings:
    """The options a record was made with."""

    command: str | None = None
    device: str | None = None
    max_pixels: int | None = None
    threshold: float | None = None
    boxes: list[list[float]] | None = None  # refine: the analyst's boxes (x0, y0, x1, y1)
    notes: list[str] | None = None  # refine: what was done to the given map (e.g. resized)
    extra: dict[str, Any] = field(default_factory=dict)

    FIELDS = ("command", "device", "max_pixels", "threshold", "boxes", "notes")

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.FIELDS[:4]}
        data.update({name: getattr(self, name) for name in self.FIELDS[4:] if getattr(self, name) is not None})
        return data | self.extra

    @classmethod
    def from_json(cls, data: Any) -> RunSettings:
        data = data if isinstance(data, dict) else {}
        boxes, notes = data.get("boxes"), data.get("notes")
        return cls(
            command=_optional(data.get("command"), str),
            device=_optional(data.get("device"), str),
            max_pixels=_optional(data.get("max_pixels"), int),
            threshold=_optional(data.get("threshold"), float),
            boxes=boxes if isinstance(boxes, list) else None,
            notes=[str(n) for n in notes] if isinstance(notes, list) else None,
            extra=_known(data, set(cls.FIELDS)),
        )


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class ResultRecord:
    """One image's result (see the module docstring for the fields)."""

    input: InputInfo
    verdict: str
    score: float | None
    class_probs: dict[str, float] | None
    flagged_fraction: float
    method: ModelCard | None
    refiner: ModelCard | None = None
    details: dict[str, Any] = field(default_factory=dict)
    threshold: float | None = None
    settings: RunSettings = field(default_factory=RunSettings)
    outputs: dict[str, str] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    tool: dict[str, Any] = field(default_factory=lambda: {"name": "imlforensic", "version": __version__})
    created: str = field(default_factory=now_iso)
    origin: str = "method"
    output_name: str | None = None  # the outputs' name below --out (escaped input name), when written
    reliability: Reliability | None = None  # is the picture of the kind the method was made for
    method_verdict: str | None = None
    verdict_reason: str | None = None
    regions: dict[str, Any] | None = None  # forensics.regions.Regions.to_json()
    provenance: dict[str, Any] | None = None  # forensics.provenance.Provenance.to_json()
    metadata: dict[str, Any] | None = None  # forensics.metadata.Metadata.to_json()
    jpeg: dict[str, Any] | None = None  # forensics.jpeg.JpegForensics.to_json()
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    schema = RESULT_SCHEMA
    FIELDS = (
        "schema",
        "input",
        "verdict",
        "score",
        "class_probs",
        "flagged_fraction",
        "method",
        "refiner",
        "details",
        "threshold",
        "settings",
        "outputs",
        "timings_s",
        "tool",
        "created",
        "origin",
        "output_name",
        "reliability",
        "method_verdict",
        "verdict_reason",
        "regions",
        "provenance",
        "metadata",
        "jpeg",
        "notes",
    )

    @property
    def is_annotation(self) -> bool:
        return self.origin == "boxes"

    @property
    def refined(self) -> bool:
        return self.refiner is not None or "coarse_overlay" in self.outputs

    @property
    def tells_generated(self) -> bool:
        """Whether the method can say ``generated`` (its card says so, or, for records of earlier
        versions without ``classes``, its class probabilities give that class some weight)."""
        if self.method is not None and "generated" in self.method.classes:
            return True
        return bool(self.class_probs and self.class_probs.get("generated", 0.0) > 0.0)

    def to_json(self) -> dict[str, Any]:
        return (
            {
                "schema": self.schema,
                "input": self.input.to_json(),
                "verdict": self.verdict,
                "method_verdict": self.method_verdict,
                "verdict_reason": self.verdict_reason,
                "score": None if self.score is None else round(self.score, 6),
                "class_probs": None
                if self.class_probs is None
                else {k: round(v, 6) for k, v in self.class_probs.items()},
                "flagged_fraction": round(self.flagged_fraction, 6),
                "method": self.method.to_json() if self.method else None,
                "refiner": self.refiner.to_json() if self.refiner else None,
                "details": dict(self.details),
                "regions": self.regions,
                "provenance": self.provenance,
                "metadata": self.metadata,
                "jpeg": self.jpeg,
                "notes": list(self.notes),
                "threshold": self.threshold,
                "settings": self.settings.to_json(),
                "outputs": dict(self.outputs),
                "timings_s": {k: round(v, 4) for k, v in self.timings_s.items()},
                "tool": dict(self.tool),
                "created": self.created,
                "origin": self.origin,
            }
            | ({"output_name": self.output_name} if self.output_name is not None else {})
            | ({"reliability": self.reliability.to_json()} if self.reliability is not None else {})
            | self.extra
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ResultRecord:
        probs = data.get("class_probs")
        outputs, timings, details, tool = (data.get(k) for k in ("outputs", "timings_s", "details", "tool"))
        return cls(
            input=InputInfo.from_json(data.get("input")),
            verdict=str(data.get("verdict") or "?"),
            score=_optional(data.get("score"), float),
            class_probs={str(k): float(v) for k, v in probs.items()} if isinstance(probs, dict) else None,
            flagged_fraction=_optional(data.get("flagged_fraction"), float) or 0.0,
            method=ModelCard.from_json(data.get("method")),
            refiner=ModelCard.from_json(data.get("refiner")),
            details=details if isinstance(details, dict) else {},
            threshold=_optional(data.get("threshold"), float),
            settings=RunSettings.from_json(data.get("settings")),
            outputs={str(k): str(v) for k, v in outputs.items() if isinstance(v, str)}
            if isinstance(outputs, dict)
            else {},
            timings_s={str(k): float(v) for k, v in timings.items()} if isinstance(timings, dict) else {},
            tool=tool if isinstance(tool, dict) else {},
            created=str(data.get("created") or ""),
            origin=str(data.get("origin") or "method"),
            output_name=_optional(data.get("output_name"), str),
            reliability=Reliability.from_json(data.get("reliability")),
            method_verdict=_optional(data.get("method_verdict"), str),
            verdict_reason=_optional(data.get("verdict_reason"), str),
            regions=_mapping(data.get("regions")),
            provenance=_mapping(data.get("provenance")),
            metadata=_mapping(data.get("metadata")),
            jpeg=_mapping(data.get("jpeg")),
            notes=[str(n) for n in data["notes"]] if isinstance(data.get("notes"), list) else [],
            extra=_known(data, set(cls.FIELDS)),
        )


@dataclass
class ErrorRecord:
    """An input that could not be analysed."""

    path: str
    error: str
    extra: dict[str, Any] = field(default_factory=dict)

    schema = ERROR_SCHEMA

    def to_json(self) -> dict[str, Any]:
        return {"schema": self.schema, "input": {"path": self.path}, "error": self.error} | self.extra

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ErrorRecord:
        given = data.get("input")
        info: dict[str, Any] = given if isinstance(given, dict) else {}
        return cls(
            path=str(info.get("path") or info.get("resolved_path") or "?"),
            error=str(data.get("error") or "failed"),
            extra=_known(data, {"schema", "input", "error"}),
        )


Record = ResultRecord | ErrorRecord


def parse_record(data: Any) -> Record | None:
    """A result or error record from parsed JSON; None for anything else."""
    if not isinstance(data, dict):
        return None
    if data.get("schema") == RESULT_SCHEMA:
        return ResultRecord.from_json(data)
    if data.get("schema") == ERROR_SCHEMA:
        return ErrorRecord.from_json(data)
    return None
