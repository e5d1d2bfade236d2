"""One image through one method (and optionally a refiner): heatmap, mask, score, verdict.

The single per-image path of the tool: ``detect``, ``localize``, ``refine``, ``report``,
``evaluate`` and every benchmark call :meth:`Analyzer.analyse`, so a number in
docs/BENCHMARKS.md is produced by exactly the code a user runs.

``Analyzer.analyse(image, coarse=None, boxes=None, evidence=None)``:

* no ``coarse``: the method analyses the image;
* ``coarse`` = a :class:`~imlforensic.methods.base.MethodOutput`: a method's output computed
  before (benchmarks compute it once and refine it with several refiners);
* ``coarse`` = a :class:`CoarseMap`: a map from another tool (``refine --heatmap``), recorded
  with its own card;
* ``boxes`` with a map: the map counts only inside the boxes; ``boxes`` alone (no method, no
  map): the refiner turns each box into a mask, an analyst's **annotation** (verdict
  ``annotated``, no score), not a finding of the tool.

Mask rule (:func:`consistent_mask`): the mask is the map's regions at or above the threshold
(:func:`imlforensic.maps.binarize`), kept empty for an image the method judged authentic.

``evidence`` (:func:`imlforensic.pipeline.evidence.read_file_evidence`, read once per image by
:mod:`imlforensic.pipeline.run`): what the file declares about its provenance, recorded, and
weighed into the verdict by :func:`~imlforensic.pipeline.evidence.declared_provenance_verdict`
(a picture declared generated is ``generated`` with the reason stated; the mask stays the one of
the method's own verdict). The record lists the mask's regions (:mod:`imlforensic.forensics.regions`).

Reliability (:mod:`imlforensic.forensics.domain`): every analysis says whether the picture is
of the kind the methods were made for (photographs). Outside that domain (graphics, small,
upscaled, heavily recompressed pictures), for a method's own map and unless the user chose a
threshold, the decision is made more conservative: the threshold is raised to
:data:`~imlforensic.forensics.domain.CONSERVATIVE_THRESHOLD` for both the verdict and the mask
(one rule for both still holds), and the record says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from imlforensic.forensics.domain import CONSERVATIVE_THRESHOLD, Reliability, assess
from imlforensic.forensics.regions import mask_regions
from imlforensic.io.images import LoadedImage
from imlforensic.maps import binarize, pool_score
from imlforensic.methods.base import Method, MethodOutput, decide_verdict
from imlforensic.pipeline.evidence import FileEvidence, declared_provenance_verdict, evidence_json
from imlforensic.pipeline.records import ANNOTATED, InputInfo, Origin, ResultRecord, RunSettings
from imlforensic.refiners.base import Refiner
from imlforensic.refiners.bayes import FusionParams
from imlforensic.refiners.prompts import Box, box_mask, clip_boxes
from imlforensic.registry import REGISTRY, ModelCard, ModelEntry, Registry, input_card

DEFAULT_THRESHOLD = 0.5
"""Threshold of a map with no method behind it (``refine --heatmap`` of another tool's map)."""


@dataclass(frozen=True)
class CoarseMap:
    """A coarse map from elsewhere (another tool, an earlier run) and the card that names it."""

    heatmap: np.ndarray
    card: ModelCard


@dataclass
class Analysis:
    image: LoadedImage
    output: MethodOutput  # the method's own (coarse) output
    heatmap: np.ndarray  # final map: refined when a refiner ran, else the method's
    mask: np.ndarray  # bool
    verdict: str
    threshold: float
    method: ModelCard  # what made the coarse map (a method, or an analyst's input)
    refiner: ModelCard | None = None
    origin: Origin = "method"
    boxes: list[Box] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    reliability: Reliability | None = None
    method_verdict: str | None = None  # the method's own verdict (None for an annotation)
    verdict_reason: str | None = None  # why ``verdict`` differs from it
    evidence: FileEvidence | None = None
    notes: list[str] = field(default_factory=list)

    MAX_REGIONS = 100
    """Regions listed in the record (all are counted)."""

    @property
    def refined(self) -> bool:
        return self.refiner is not None

    @property
    def score(self) -> float | None:
        return None if self.origin == "boxes" else self.output.score

    @property
    def flagged_fraction(self) -> float:
        return float(self.mask.mean())

    @property
    def coarse_mask(self) -> np.ndarray:
        """The method's own (unrefined) mask, by the same rule as :attr:`mask`."""
        if self.origin == "boxes":
            return box_mask(self.boxes, self.heatmap.shape)
        return consistent_mask(self.output.heatmap, self.threshold, self.method_verdict or self.verdict)

    def record(self, settings: RunSettings) -> ResultRecord:
        """The JSON record of this analysis (``outputs`` filled in when the files are written)."""
        annotation = self.origin == "boxes"
        problem = [self.evidence.problem] if self.evidence is not None and self.evidence.problem else []
        regions = mask_regions(self.mask, self.heatmap, max_regions=self.MAX_REGIONS)
        return ResultRecord(
            input=InputInfo.of(self.image),
            verdict=self.verdict,
            score=self.score,
            class_probs=None if annotation else dict(self.output.class_probs),
            flagged_fraction=self.flagged_fraction,
            method=self.method,
            refiner=self.refiner,
            details=dict(self.output.details),
            threshold=self.threshold,
            settings=settings,
            timings_s=dict(self.timings),
            origin=self.origin,
            reliability=self.reliability,
            method_verdict=self.method_verdict,
            verdict_reason=self.verdict_reason,
            regions=regions.to_json(),
            notes=problem + list(self.notes),
            **evidence_json(self.evidence),
        )


def consistent_mask(heatmap: np.ndarray, threshold: float, verdict: str) -> np.ndarray:
    """:func:`binarize`, kept empty for an image judged authentic.

    For a method's own map this changes nothing (its score is pooled from the same map, see
    :mod:`imlforensic.maps`); for a refined map it keeps the promise that the verdict and the
    overlay never contradict each other.
    """
    if verdict == "authentic":
        return np.zeros(heatmap.shape, dtype=bool)
    return binarize(heatmap, threshold)


class Analyzer:
    """Holds a loaded method (and refiner) and analyses images one after another.

    ``method`` and ``refiner`` are registry names or entries (an entry from
    :meth:`Registry.with_weights` runs a user's checkpoint); ``method=None`` analyses only maps
    or boxes given to :meth:`analyse`. ``fusion``: the refiner's fusion parameters (defaults of
    :class:`FusionParams`; benchmarks sweep them), set to the threshold as :meth:`FusionParams.for_threshold`
    says. Models are built on first use, or by :meth:`load`.
    """

    def __init__(
        self,
        method: str | ModelEntry | None,
        device: str = "auto",
        threshold: float | None = None,
        refiner: str | ModelEntry | None = None,
        registry: Registry = REGISTRY,
        fusion: FusionParams | None = None,
        conservative: bool = True,
    ) -> None:
        self.registry = registry
        self.method_entry = registry.entry(method) if method is not None else None  # fails early on an unknown name
        self.refiner_entry = registry.entry(refiner) if refiner is not None else None
        self.device = device
        self._threshold = None if threshold is None else float(threshold)
        self.fusion = fusion or FusionParams()
        self.conservative = conservative  # raise the threshold outside the domain (module docstring)
        self._method: Method | None = None
        self._refiner: Refiner | None = None

    @property
    def method_name(self) -> str | None:
        return self.method_entry.name if self.method_entry else None

    def load(self) -> Analyzer:
        """Build the method and the refiner now (a bad checkpoint fails here, not per image)."""
        if self.method_entry is not None and self._method is None:
            self._method = self.registry.load(self.method_entry, self.device, expect=Method)
        if self.refiner_entry is not None and self._refiner is None:
            self._refiner = self.registry.load(self.refiner_entry, self.device, expect=Refiner)
        return self

    @property
    def method(self) -> Method | None:
        return self.load()._method

    @property
    def refiner(self) -> Refiner | None:
        return self.load()._refiner

    @property
    def user_threshold(self) -> float | None:
        """The threshold the user chose (None: the method's own)."""
        return self._threshold

    @property
    def threshold(self) -> float:
        """The threshold given, else the method's own default, else :data:`DEFAULT_THRESHOLD`."""
        if self._threshold is not None:
            return self._threshold
        method = self.method
        return method.default_threshold if method is not None else DEFAULT_THRESHOLD

    @property
    def method_card(self) -> ModelCard | None:
        method = self.method
        return method.card if method is not None else None

    @property
    def refiner_card(self) -> ModelCard | None:
        refiner = self.refiner
        return refiner.card if refiner is not None else None

    def analyse(
        self,
        image: LoadedImage,
        coarse: MethodOutput | CoarseMap | None = None,
        boxes: list[Box] | None = None,
        evidence: FileEvidence | None = None,
    ) -> Analysis:
        """One image through the pipeline (see the module docstring)."""
        shape = image.rgb.shape[:2]
        boxes = clip_boxes(list(boxes), shape) if boxes else []
        timings: dict[str, float] = {}
        output, card, origin = self._coarse(image, coarse, boxes, timings)
        if boxes and origin != "boxes":
            restricted = np.where(box_mask(boxes, shape), output.heatmap, 0.0)
            output = MethodOutput(
                heatmap=restricted, score=pool_score(restricted), views=output.views, details=output.details
            )
        threshold = self.threshold
        reliability = None
        if origin != "boxes":
            started = time.perf_counter()
            reliability = assess(image.rgb, image.jpeg_quality)
            timings["reliability"] = time.perf_counter() - started
            if (
                self.conservative
                and origin == "method"  # another tool's map keeps the threshold it was given
                and self.user_threshold is None
                and not reliability.in_domain
                and threshold < CONSERVATIVE_THRESHOLD
            ):
                threshold = reliability.conservative_threshold = CONSERVATIVE_THRESHOLD
        heatmap = output.heatmap
        refiner = self.refiner
        if refiner is not None:
            started = time.perf_counter()
            params = self.fusion.for_threshold(threshold)
            refined = refiner.refine(
                image.rgb, None if origin == "boxes" else output.heatmap, boxes=boxes or None, params=params
            )
            heatmap = np.clip(refined, 0.0, 1.0).astype(np.float32)
            timings["refine"] = time.perf_counter() - started
        method_verdict: str | None = None
        reason: str | None = None
        notes: tuple[str, ...] = ()
        if origin == "boxes":
            verdict, mask = ANNOTATED, binarize(heatmap, threshold)
        else:
            method_verdict = decide_verdict(output, threshold)
            mask = consistent_mask(heatmap, threshold, method_verdict)
            verdict = method_verdict
            if origin == "method" and evidence is not None:
                decision = declared_provenance_verdict(method_verdict, evidence)
                verdict, reason, notes = decision.verdict, decision.reason, decision.notes
        if evidence is not None:
            timings["evidence"] = evidence.seconds
        return Analysis(
            image=image,
            output=output,
            heatmap=heatmap,
            mask=mask,
            verdict=verdict,
            threshold=threshold,
            method=card,
            refiner=refiner.card if refiner is not None else None,
            origin=origin,
            boxes=boxes,
            timings=timings,
            reliability=reliability,
            method_verdict=method_verdict,
            verdict_reason=reason,
            evidence=evidence,
            notes=list(notes),
        )

    def _coarse(
        self, image: LoadedImage, coarse: MethodOutput | CoarseMap | None, boxes: list[Box], timings: dict[str, float]
    ) -> tuple[MethodOutput, ModelCard, Origin]:
        """The map to refine, what made it, and where it comes from."""
        shape = image.rgb.shape[:2]
        if isinstance(coarse, CoarseMap):
            if coarse.heatmap.shape != shape:
                raise ValueError(
                    f"coarse map is {coarse.heatmap.shape[1]}x{coarse.heatmap.shape[0]}, image is {shape[1]}x{shape[0]}"
                )
            return MethodOutput(heatmap=coarse.heatmap, score=pool_score(coarse.heatmap)), coarse.card, "heatmap"
        method = self.method
        if method is None:
            if not boxes or self.refiner is None:
                raise ValueError("without a method, analyse() needs a coarse map, or boxes and a refiner")
            shown = box_mask(boxes, shape).astype(np.float32)
            return MethodOutput(heatmap=shown, score=1.0), input_card("boxes"), "boxes"
        if coarse is None:
            started = time.perf_counter()
            coarse = method.analyse(image)
            timings["analyse"] = time.perf_counter() - started
        if coarse.heatmap.shape != shape:
            raise RuntimeError(f"method {method.name!r} returned a {coarse.heatmap.shape} map for a {shape} image")
        return coarse, method.card, "method"
