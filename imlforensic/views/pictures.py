"""The forensic views as pictures an analyst looks at (``localize --views ela,sel,noise,dq``),
written beside the maps as ``NAME.view-VIEW.png``.

* ``ela``: classic error level analysis, the picture minus its JPEG recompression at quality
  :data:`ELA_QUALITY`, absolute, per channel, times :data:`ELA_SCALE` (a fixed scale, so that
  error levels can be compared between pictures; a region that responds differently to
  recompression from its surroundings with as much texture stands out);
* ``sel``: the signed-error-level anomaly map (:mod:`imlforensic.views.error_level`: JPEG ghosts
  and error-energy profiles across qualities), calibrated to [0, 1] as the classical methods use it;
* ``noise``: the local sensor-noise anomaly map (:mod:`imlforensic.views.noise`), calibrated; it
  means little for JPEGs below quality 95, whose quantisation removed the noise
  (:func:`imlforensic.views.calibration.noise_reliability`);
* ``dq``: the double-quantisation evidence of a JPEG (:mod:`imlforensic.views.double_jpeg`), per
  8 x 8 block, as a probability (logistic of the log-likelihood ratio); JPEG only.

The maps (``sel``, ``noise``, ``dq``) use the cividis colour scale of ``NAME.heatmap-color.png``
(dark blue 0 to yellow 1). They are pictures for the eye, computed at the image's full size as
displayed; the verdict never depends on whether they are written.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from imlforensic.io.images import LoadedImage
from imlforensic.io.render import heatmap_to_colour

ELA_QUALITY = 90
ELA_SCALE = 20.0


def ela_picture(rgb: np.ndarray, quality: int = ELA_QUALITY, scale: float = ELA_SCALE) -> np.ndarray:
    """``|rgb - jpeg_quality(rgb)| * scale``, clipped to 0..255 (RGB uint8)."""
    from imlforensic.views.error_level import jpeg_roundtrip

    difference = np.abs(rgb.astype(np.int16) - jpeg_roundtrip(rgb, quality).astype(np.int16))
    return np.clip(difference.astype(np.float32) * scale, 0, 255).astype(np.uint8)


def _calibrated(view: str) -> Callable[[LoadedImage], np.ndarray | str]:
    def render(image: LoadedImage) -> np.ndarray:
        from imlforensic.views.calibration import calibrate, raw_anomaly

        return heatmap_to_colour(calibrate(raw_anomaly(image.rgb, view), view))

    return render


def _double_quantisation(image: LoadedImage) -> np.ndarray | str:
    from imlforensic.views.double_jpeg import llr_map

    if image.luma_table is None:
        return "it applies to JPEG files with readable quantisation tables"
    llr = llr_map(image.rgb, image.luma_table)
    if not np.any(llr):  # a grey 0.5 everywhere would look like a finding
        return "no DCT frequency of this JPEG shows a double-quantisation pattern, so it would be one flat grey (no evidence)"
    return heatmap_to_colour((1.0 / (1.0 + np.exp(-np.clip(llr, -30, 30)))).astype(np.float32))


VIEWS: dict[str, Callable[[LoadedImage], np.ndarray | str]] = {
    "ela": lambda image: ela_picture(image.rgb),
    "sel": _calibrated("sel"),
    "noise": _calibrated("noise"),
    "dq": _double_quantisation,
}
"""Each view's renderer: an RGB uint8 picture of the image's size, or why it does not apply."""


def parse_views(text: str | None) -> tuple[str, ...]:
    """``"ela,noise"`` -> ``("ela", "noise")`` (``all``: every view); ValueError for an unknown name."""
    if not text:
        return ()
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    if "all" in names:
        return tuple(VIEWS)
    unknown = [name for name in names if name not in VIEWS]
    if unknown:
        raise ValueError(f"unknown view(s) {', '.join(unknown)}; choose from {', '.join(VIEWS)} or all")
    return tuple(dict.fromkeys(names))


def render_views(image: LoadedImage, views: tuple[str, ...]) -> tuple[dict[str, np.ndarray], list[str]]:
    """The pictures of ``views`` for ``image``, and a note for each view that does not apply."""
    pictures: dict[str, np.ndarray] = {}
    notes: list[str] = []
    for view in views:
        picture = VIEWS[view](image)
        if isinstance(picture, str):
            notes.append(f"View '{view}' not written: {picture}.")
        else:
            pictures[view] = picture
    return pictures, notes
