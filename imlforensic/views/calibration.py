"""Calibrated anomaly maps of the classical views (``sel``, ``noise``): pure functions.

Each view yields a raw anomaly map in robust z units (see :mod:`.error_level` and
:mod:`.noise`). A logistic calibration turns it into a probability map; its constants come
from ``benchmarks/calibrate_classical.py`` on authentic photographs, chosen so that at the
default threshold (0.5) about 5 % of authentic photos show any flagged region. The noise view
is weighted by how much sensor noise the file can still carry (:func:`noise_reliability`):
JPEG quantisation removes it, so the weight is 1 for lossless files and JPEG quality >= 95,
0 at quality <= 85, linear in between. The methods built on these maps are in
:mod:`imlforensic.methods.classical`; ``mvcam`` adds the sel view's evidence in log-odds
(:func:`log_likelihood_ratio`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from imlforensic.chunked import LinearRows
from imlforensic.views.error_level import SelWindows, reduction_factor, sel_anomaly
from imlforensic.views.noise import noise_anomaly, streamed_noise_z

# python benchmarks/calibrate_classical.py ../shared/data/photos --per-source 60
# -> sel: centre=6.460 width=1.783; noise: centre=4.104 width=1.255
CALIBRATION = {
    "sel": (6.460, 1.783),
    "noise": (4.104, 1.255),
}


def smoothing_sigma(height: int, width: int) -> float:
    """Spatial smoothing of anomaly maps, proportional to image size (edits are regions, not pixels)."""
    return max(3.0, min(height, width) / 64.0)


def raw_anomaly(rgb: np.ndarray, view: str) -> np.ndarray:
    """Uncalibrated, smoothed anomaly map (robust z units) of one view."""
    if view == "sel":
        anomaly = sel_anomaly(rgb)
    elif view == "noise":
        anomaly = noise_anomaly(rgb)
    else:
        raise ValueError(f"unknown view {view!r}")
    return cv2.GaussianBlur(anomaly, (0, 0), smoothing_sigma(*rgb.shape[:2]))


def raw_anomalies(rgb: np.ndarray) -> dict[str, np.ndarray]:
    """Uncalibrated anomaly maps of every view."""
    return {view: raw_anomaly(rgb, view) for view in CALIBRATION}


@dataclass
class ReducedMap:
    """A :func:`raw_anomaly` of a large picture held at 1/``factor`` of its size (issue 16);
    :meth:`rows` enlarges a strip of it to the picture's size."""

    values: np.ndarray  # (H // factor, W // factor) float32
    factor: int
    shape: tuple[int, int]  # the picture's (H, W)
    _enlarged: LinearRows = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._enlarged = LinearRows(self.values, self.shape, (1.0 / self.factor, 1.0 / self.factor))

    def rows(self, top: int, bottom: int) -> np.ndarray:
        return self._enlarged.rows(top, bottom)


def reduced_anomaly(rgb: np.ndarray, view: str) -> ReducedMap:
    """:func:`raw_anomaly` without a full-size map: the anomaly at 1/f of the picture's size
    (f = :func:`~imlforensic.views.error_level.reduction_factor`, the resolution the sel view
    computes at anyway), computed in strips against the whole picture's statistics and smoothed
    there with :func:`smoothing_sigma` / f. Smoothing before enlarging rather than after differs
    from :func:`raw_anomaly` only by the interpolation's own blur (variance f^2 / 6 pixels^2 against
    the smoothing's sigma^2 >= 1000 pixels^2 for a picture of this size)."""
    height, width = rgb.shape[:2]
    factor = reduction_factor(height, width)
    size = (height // factor, width // factor)
    if view == "sel":
        values = SelWindows.of(rgb, factor=factor).anomaly()
    elif view == "noise":
        z = streamed_noise_z(rgb)
        if z is None:
            values = np.zeros(size, np.float32)
        else:
            cell = 16 // factor  # a 16-pixel block is 16 / f cells; block centres line up as in noise_anomaly
            values = cv2.resize(z, (z.shape[1] * cell, z.shape[0] * cell), interpolation=cv2.INTER_LINEAR)
            values = np.ascontiguousarray(values[: size[0], : size[1]])
    else:
        raise ValueError(f"unknown view {view!r}")
    return ReducedMap(
        cv2.GaussianBlur(values, (0, 0), smoothing_sigma(height, width) / factor), factor, (height, width)
    )


AUTHENTIC_MEDIAN_LOGIT = -3.0
"""Where the calibration puts the median pixel of authentic photos: ``calibrate_classical.py``
sets ``width = (centre - median) / 3``, so that pixel maps to sigmoid(-3) = 0.047."""


def calibrate(anomaly: np.ndarray, view: str) -> np.ndarray:
    centre, width = CALIBRATION[view]
    return (1.0 / (1.0 + np.exp(-(anomaly - centre) / width))).astype(np.float32)


def log_likelihood_ratio(anomaly: np.ndarray, view: str) -> np.ndarray:
    """A view's evidence for "edited" in log-odds, zero at the median authentic pixel:
    ``(anomaly - median) / width`` (positive where the view sees more than an authentic photo's
    typical pixel, negative where it sees less). Used to add the view to another map's logits."""
    centre, width = CALIBRATION[view]
    return ((anomaly - centre) / width - AUTHENTIC_MEDIAN_LOGIT).astype(np.float32)


def noise_reliability(jpeg_quality: int | None) -> float:
    """Weight of the noise view for a file of this JPEG quality (None: not a JPEG)."""
    if jpeg_quality is None:
        return 1.0
    return float(np.clip((jpeg_quality - 85) / 10.0, 0.0, 1.0))
