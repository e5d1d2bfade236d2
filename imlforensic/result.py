"""The contract between analysis methods and the rest of the tool.

Every detector or localizer returns one :class:`MethodOutput` (the idea of photoholmes'
method contract): a per-pixel heatmap in [0, 1] at the image's displayed size, an
image-level manipulation score in [0, 1], and, for three-class models, class probabilities.
Thresholding, refinement and writing are done by the pipeline, the same way for every method.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Verdict = Literal["authentic", "manipulated", "generated"]
VERDICTS: tuple[str, ...] = ("authentic", "manipulated", "generated")


@dataclass
class MethodOutput:
    """What a method says about one image."""

    heatmap: np.ndarray  # H x W float32 in [0, 1]: probability that each pixel was edited
    score: float  # image-level probability that the image was edited (manipulated or generated)
    class_probs: dict[str, float] | None = None  # over VERDICTS, for methods that separate them
    views: dict[str, np.ndarray] = field(default_factory=dict)  # optional extra maps, same size
    details: dict[str, float] = field(default_factory=dict)  # numbers behind the map, for the record

    def __post_init__(self) -> None:
        heatmap = np.asarray(self.heatmap, dtype=np.float32)
        if heatmap.ndim != 2:
            raise ValueError(f"heatmap must be 2-D, got shape {heatmap.shape}")
        self.heatmap = np.clip(np.nan_to_num(heatmap, nan=0.0), 0.0, 1.0)
        self.score = float(np.clip(self.score, 0.0, 1.0))


def decide_verdict(output: MethodOutput, threshold: float) -> Verdict:
    """Image-level decision: ``generated`` when a three-class model says so, else score vs threshold."""
    probs = output.class_probs
    if probs and probs.get("generated", 0.0) >= max(probs.get("manipulated", 0.0), probs.get("authentic", 0.0)):
        return "generated"
    return "manipulated" if output.score >= threshold else "authentic"
