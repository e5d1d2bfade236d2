"""The classical forensic methods (no weights): ``sel``, ``noise`` and their combination ``classical``.

``sel`` and ``noise`` are one calibrated view each (:mod:`imlforensic.views.calibration`).
``classical`` flags a pixel when either calibrated view is confident (the maximum of the two
maps), the noise map first weighted by how much sensor noise the file can still carry
(:func:`~imlforensic.views.calibration.noise_reliability`). The image-level score is pooled
from the map (:func:`imlforensic.maps.pool_score`).
"""

from __future__ import annotations

import numpy as np

from imlforensic.chunked import is_large, row_strips
from imlforensic.io.images import LoadedImage
from imlforensic.maps import pool_score
from imlforensic.methods.base import Method, MethodOutput
from imlforensic.registry.cards import ModelCard
from imlforensic.registry.registry import BuildContext
from imlforensic.views.calibration import (
    CALIBRATION,
    calibrate,
    noise_reliability,
    raw_anomalies,
    raw_anomaly,
    reduced_anomaly,
)

VIEWS = (*CALIBRATION, "classical")


class ClassicalMethod(Method):
    """One classical view (or the combination) behind the method contract."""

    def __init__(self, card: ModelCard, view: str) -> None:
        super().__init__(card)
        if view not in VIEWS:
            raise ValueError(f"unknown classical view {view!r}; use {', '.join(VIEWS)}")
        self.view = view

    def analyse(self, image: LoadedImage) -> MethodOutput:
        if is_large(image.rgb.shape):
            return self._analyse_large(image)
        if self.view != "classical":
            heatmap = calibrate(raw_anomaly(image.rgb, self.view), self.view)
            return MethodOutput(heatmap=heatmap, score=pool_score(heatmap))
        views = {view: calibrate(anomaly, view) for view, anomaly in raw_anomalies(image.rgb).items()}
        heatmap = np.maximum(views["sel"], noise_reliability(image.jpeg_quality) * views["noise"])
        return MethodOutput(heatmap=heatmap, score=pool_score(heatmap), views=views)

    def _analyse_large(self, image: LoadedImage) -> MethodOutput:
        """The same map for a large picture in bounded memory: each view's anomaly is held at a
        reduced size (:func:`~imlforensic.views.calibration.reduced_anomaly`) and the map is made
        a strip of rows at a time; the per-view maps are not kept (``views`` is empty)."""
        rgb = image.rgb
        shape = (rgb.shape[0], rgb.shape[1])
        names = CALIBRATION if self.view == "classical" else (self.view,)
        reduced = {view: reduced_anomaly(rgb, view) for view in names}
        weight = noise_reliability(image.jpeg_quality) if self.view == "classical" else 1.0
        heatmap = np.empty(shape, np.float32)
        for top, bottom in row_strips(*shape):
            maps = {view: calibrate(anomaly.rows(top, bottom), view) for view, anomaly in reduced.items()}
            if self.view == "classical":
                heatmap[top:bottom] = np.maximum(maps["sel"], weight * maps["noise"])
            else:
                heatmap[top:bottom] = maps[self.view]
        return MethodOutput(heatmap=heatmap, score=pool_score(heatmap))


def build(context: BuildContext) -> ClassicalMethod:  # registry builder
    return ClassicalMethod(context.card, view=context.entry.extra["view"])
