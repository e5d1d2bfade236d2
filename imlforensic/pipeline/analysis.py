"""One image through one method (and optionally a refiner): heatmap, mask, score, verdict.

The same :class:`Analyzer` serves ``detect``, ``localize``, ``evaluate`` and the benchmarks,
so a number in docs/BENCHMARKS.md is produced by exactly the code a user runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from imlforensic.io.images import LoadedImage
from imlforensic.maps import binarize
from imlforensic.refiners import resolve_refiner
from imlforensic.refiners.base import Refiner as BaseRefiner
from imlforensic.refiners.bayes import FusionParams
from imlforensic.registry import REGISTRY
from imlforensic.result import MethodOutput, decide_verdict


class Method(Protocol):
    def analyse(self, image: LoadedImage) -> MethodOutput: ...


class Refiner(Protocol):
    def refine(self, rgb: np.ndarray, coarse: np.ndarray) -> np.ndarray:
        """Posterior probability map (H x W, [0,1]) from the image and a coarse map."""
        ...


@dataclass
class Analysis:
    image: LoadedImage
    output: MethodOutput  # the method's own (coarse) output
    heatmap: np.ndarray  # final map: refined when a refiner ran, else the method's
    mask: np.ndarray  # bool
    verdict: str
    threshold: float
    refined: bool
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return self.output.score

    @property
    def flagged_fraction(self) -> float:
        return float(self.mask.mean())

    @property
    def coarse_mask(self) -> np.ndarray:
        """The method's own (unrefined) mask, by the same rule as :attr:`mask`."""
        return consistent_mask(self.output.heatmap, self.threshold, self.verdict)


def consistent_mask(heatmap: np.ndarray, threshold: float, verdict: str) -> np.ndarray:
    """:func:`binarize`, kept empty for an image judged authentic.

    For a method's own map this changes nothing (its score is pooled from the same map, see
    :mod:`imlforensic.maps`); for a refined map it keeps the promise that the verdict and the
    overlay never contradict each other.
    """
    if verdict == "authentic":
        return np.zeros(heatmap.shape, dtype=bool)
    return binarize(heatmap, threshold)


def model_card(name: str) -> dict[str, Any]:
    """Provenance of a registered model for the JSON output."""
    entry = REGISTRY.entry(name)
    return {
        "name": entry.name,
        "task": entry.task,
        "version": entry.version,
        "weights_sha256": REGISTRY.weights_sha256(name),
        "reference": entry.reference or None,
    }


class Analyzer:
    """Holds a loaded method (and refiner) and analyses images one after another."""

    def __init__(
        self, method: str, device: str = "auto", threshold: float | None = None, refiner: str | None = None
    ) -> None:
        self.method_name = method
        # Aliases (sam, deeplab) become the checkpoint that will run, so outputs record it.
        self.refiner_name = resolve_refiner(refiner) if refiner else None
        self.device = device
        REGISTRY.entry(method)  # fail early on an unknown name
        self._threshold = None if threshold is None else float(threshold)
        self._method: Method | None = None
        self._refiner: Refiner | None = None

    @property
    def threshold(self) -> float:
        """The threshold given, else the loaded method's own default, else its registry entry's."""
        if self._threshold is not None:
            return self._threshold
        return REGISTRY.default_threshold(self.method_name, self._method)

    def _load(self) -> None:
        if self._method is None:
            self._method = REGISTRY.load(self.method_name, self.device)
        if self.refiner_name and self._refiner is None:
            self._refiner = REGISTRY.load(self.refiner_name, self.device)

    def provenance(self) -> dict[str, Any]:
        self._load()
        return {
            "method": model_card(self.method_name),
            "refiner": model_card(self.refiner_name) if self.refiner_name else None,
        }

    def analyse(self, image: LoadedImage) -> Analysis:
        self._load()
        assert self._method is not None
        started = time.perf_counter()
        output = self._method.analyse(image)
        if output.heatmap.shape != image.rgb.shape[:2]:
            raise RuntimeError(
                f"method {self.method_name!r} returned a {output.heatmap.shape} map for a {image.rgb.shape[:2]} image"
            )
        timings = {"analyse": time.perf_counter() - started}
        heatmap = output.heatmap
        if self._refiner is not None:
            started = time.perf_counter()
            extra = {"params": FusionParams().for_threshold(self.threshold)} if isinstance(self._refiner, BaseRefiner) else {}
            heatmap = np.clip(self._refiner.refine(image.rgb, output.heatmap, **extra), 0.0, 1.0).astype(np.float32)
            timings["refine"] = time.perf_counter() - started
        verdict = decide_verdict(output, self.threshold)
        return Analysis(
            image=image,
            output=output,
            heatmap=heatmap,
            mask=consistent_mask(heatmap, self.threshold, verdict),
            verdict=verdict,
            threshold=self.threshold,
            refined=self._refiner is not None,
            timings=timings,
        )
