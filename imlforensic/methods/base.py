"""The contract between analysis methods and the rest of the tool.

Every method inherits :class:`Method` and returns one :class:`MethodOutput` per image (the idea
of photoholmes' method contract): a per-pixel heatmap in [0, 1] at the image's displayed size,
an image-level score in [0, 1] and class probabilities over the three verdicts. Thresholding,
refinement and writing are done by the pipeline (:mod:`imlforensic.pipeline.analysis`), the
same way for every method.

**Class probabilities** always sum to 1 over ``authentic``, ``manipulated``, ``generated``. A
localizer, which cannot tell a fully generated picture apart, reports
``{authentic: 1 - score, manipulated: score, generated: 0}`` (the default when a method gives
none); a three-class model gives its own, so it plugs in without a special case.

**Verdict** (:func:`decide_verdict`): ``generated`` when that class is the most probable one,
else ``manipulated`` when the score reaches the threshold, else ``authentic``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from imlforensic.io.images import LoadedImage
from imlforensic.registry.cards import ModelCard

Verdict = Literal["authentic", "manipulated", "generated"]
VERDICTS: tuple[Verdict, ...] = ("authentic", "manipulated", "generated")


def is_whole_image_finding(verdict: str | None) -> bool:
    """Whether a verdict is about the whole picture rather than regions of it: a fully generated
    picture has no edited region to outline, so overlays, report pages and the viewer draw none."""
    return verdict == "generated"


def localizer_probs(score: float) -> dict[str, float]:
    """Class probabilities of a method that only tells edited from not edited."""
    return {"authentic": 1.0 - score, "manipulated": score, "generated": 0.0}


def normalise_probs(probs: dict[str, float]) -> dict[str, float]:
    """``probs`` over exactly :data:`VERDICTS`, clipped to [0, 1] and summing to 1."""
    unknown = set(probs) - set(VERDICTS)
    if unknown:
        raise ValueError(f"unknown class(es) {sorted(unknown)}; classes are {', '.join(VERDICTS)}")
    values = np.clip(np.nan_to_num([float(probs.get(v, 0.0)) for v in VERDICTS]), 0.0, 1.0)
    total = float(values.sum())
    if total <= 0:
        raise ValueError("class probabilities are all zero")
    return {v: float(p) / total for v, p in zip(VERDICTS, values)}


@dataclass
class MethodOutput:
    """What a method says about one image."""

    heatmap: np.ndarray  # H x W float32 in [0, 1]: probability that each pixel was edited
    score: float  # image-level probability that the image was edited (manipulated or generated)
    class_probs: dict[str, float] = field(default_factory=dict)  # over VERDICTS; from the score when empty
    views: dict[str, np.ndarray] = field(default_factory=dict)  # optional extra maps, same size
    details: dict[str, float] = field(default_factory=dict)  # numbers behind the map, for the record

    def __post_init__(self) -> None:
        heatmap = np.asarray(self.heatmap, dtype=np.float32)
        if heatmap.ndim != 2:
            raise ValueError(f"heatmap must be 2-D, got shape {heatmap.shape}")
        # a map already in [0, 1] is kept as it is: two full-size copies of a 100-megapixel map are 800 MB
        clean = heatmap.size > 0 and bool(heatmap.min() >= 0.0) and bool(heatmap.max() <= 1.0)
        self.heatmap = heatmap if clean else np.clip(np.nan_to_num(heatmap, nan=0.0), 0.0, 1.0)
        self.score = float(np.clip(self.score, 0.0, 1.0))
        self.class_probs = normalise_probs(self.class_probs or localizer_probs(self.score))


def decide_verdict(output: MethodOutput, threshold: float) -> Verdict:
    """The image-level decision (see the module docstring)."""
    probs = output.class_probs
    if probs["generated"] > max(probs["manipulated"], probs["authentic"]):
        return "generated"
    return "manipulated" if output.score >= threshold else "authentic"


class Method(ABC):
    """A detection / localization method: one image in, one :class:`MethodOutput` out.

    Declared attributes: ``card`` (name, version, weights sha256, reference: what outputs
    record), ``default_threshold`` (the score / pixel threshold it decides at unless the user
    gives one; a learned checkpoint carries the one chosen when it was calibrated). Methods are
    built by the registry (:class:`imlforensic.registry.BuildContext` gives the card).
    """

    card: ModelCard
    default_threshold: float

    def __init__(self, card: ModelCard, default_threshold: float = 0.5) -> None:
        self.card = card
        self.default_threshold = float(default_threshold)

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def version(self) -> str | None:
        return self.card.version

    @property
    def weights_sha256(self) -> str | None:
        return self.card.weights_sha256

    @abstractmethod
    def analyse(self, image: LoadedImage) -> MethodOutput:
        """Heatmap, score and class probabilities of ``image`` (maps at its displayed size)."""
