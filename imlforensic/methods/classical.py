"""The classical forensic methods (no weights): ``sel``, ``noise`` and their combination ``classical``.

``sel`` and ``noise`` are one calibrated view each (:mod:`imlforensic.views.calibration`).
``classical`` flags a pixel when either calibrated view is confident (the maximum of the two
maps), the noise map first weighted by how much sensor noise the file can still carry
(:func:`~imlforensic.views.calibration.noise_reliability`). The image-level score is pooled
from the map (:func:`imlforensic.maps.pool_score`).
"""

from __future__ import annotations

import numpy as np

from imlforensic.io.images import LoadedImage
from imlforensic.maps import pool_score
from imlforensic.methods.base import Method, MethodOutput
from imlforensic.registry.cards import ModelCard
from imlforensic.registry.registry import BuildContext
from imlforensic.views.calibration import CALIBRATION, calibrate, noise_reliability, raw_anomalies, raw_anomaly

VIEWS = (*CALIBRATION, "classical")


class ClassicalMethod(Method):
    """One classical view (or the combination) behind the method contract."""

    def __init__(self, card: ModelCard, view: str) -> None:
        super().__init__(card)
        if view not in VIEWS:
            raise ValueError(f"unknown classical view {view!r}; use {', '.join(VIEWS)}")
        self.view = view

    def analyse(self, image: LoadedImage) -> MethodOutput:
        if self.view != "classical":
            heatmap = calibrate(raw_anomaly(image.rgb, self.view), self.view)
            return MethodOutput(heatmap=heatmap, score=pool_score(heatmap))
        views = {view: calibrate(anomaly, view) for view, anomaly in raw_anomalies(image.rgb).items()}
        heatmap = np.maximum(views["sel"], noise_reliability(image.jpeg_quality) * views["noise"])
        return MethodOutput(heatmap=heatmap, score=pool_score(heatmap), views=views)


def build(context: BuildContext) -> ClassicalMethod:  # registry builder
    return ClassicalMethod(context.card, view=context.entry.extra["view"])
