"""Perturbations that social networks and messengers apply to pictures, for robustness sweeps.

``imlforensic evaluate DATASET --perturb jpeg:95,85,75`` (see :mod:`imlforensic.pipeline.sweep`)
re-runs the analysis on every image after each perturbation at each strength. A perturbed
image becomes a new *file* (its encoded bytes) decoded by :func:`imlforensic.io.images.decode_image_bytes`,
exactly as a downloaded copy would be, so the analysis reads its compression history
(quantisation table, estimated quality) the way it reads a user's file:

======== ============================================ ====================== ==============
kind     what                                         strength               file
======== ============================================ ====================== ==============
jpeg     JPEG recompression (Pillow, 4:2:0)           quality 1-100          JPEG
webp     WebP recompression (Pillow, lossy)           quality 1-100          WebP
resize   scaling (area interpolation); mask follows   factor, 0 < f <= 4     PNG (lossless)
blur     Gaussian blur                                sigma in pixels, > 0   PNG
noise    additive Gaussian noise, seeded per image    sigma in grey levels   PNG
======== ============================================ ====================== ==============

Only ``resize`` changes the geometry: its ground-truth mask is resized with it (nearest
neighbour). The noise is seeded from the image's sha256, so a sweep is reproducible.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from imlforensic.io.images import MIN_SIDE, LoadedImage, decode_image_bytes
from imlforensic.io.render import encode_png

KINDS = ("jpeg", "webp", "resize", "blur", "noise")
STRENGTH_LABELS = {
    "jpeg": "JPEG quality",
    "webp": "WebP quality",
    "resize": "scale factor",
    "blur": "Gaussian blur sigma (px)",
    "noise": "noise sigma (grey levels)",
}
# Along the x axis of a plot, a larger value is a *weaker* perturbation for these kinds.
WEAKER_WHEN_LARGER = frozenset({"jpeg", "webp", "resize"})


class PerturbationError(ValueError):
    """A ``--perturb`` specification that cannot be used (one-line message)."""


@dataclass(frozen=True)
class Perturbation:
    kind: str
    strength: float

    @property
    def label(self) -> str:
        """``jpeg:75``, ``resize:0.5``: the form the option takes."""
        value = int(self.strength) if float(self.strength).is_integer() else self.strength
        return f"{self.kind}:{value}"

    @property
    def changes_geometry(self) -> bool:
        return self.kind == "resize" and self.strength != 1.0

    def apply(self, image: LoadedImage) -> LoadedImage:
        """The perturbed picture, decoded from its encoded bytes as a file would be."""
        rgb = image.rgb
        if self.kind == "jpeg":
            data, suffix = _pillow_bytes(rgb, "JPEG", quality=int(self.strength)), ".jpg"
        elif self.kind == "webp":
            data, suffix = _pillow_bytes(rgb, "WEBP", quality=int(self.strength)), ".webp"
        else:
            data, suffix = encode_png(self._pixels(rgb, image.sha256)), ".png"
        name = Path(image.display or str(image.path))
        display = f"{name}[{self.label}]"
        return decode_image_bytes(data, image.path.with_suffix(suffix), display=display)

    def _pixels(self, rgb: np.ndarray, sha256: str) -> np.ndarray:
        if self.kind == "resize":
            height, width = rgb.shape[:2]
            size = self.size_of(height, width)
            interpolation = cv2.INTER_AREA if self.strength < 1 else cv2.INTER_CUBIC
            return cv2.resize(rgb, (size[1], size[0]), interpolation=interpolation)
        if self.kind == "blur":
            return cv2.GaussianBlur(rgb, (0, 0), sigmaX=float(self.strength), borderType=cv2.BORDER_REFLECT)
        if self.kind == "noise":
            seed = int(hashlib.sha256(f"{sha256}:{self.label}".encode()).hexdigest()[:16], 16)
            noise = np.random.default_rng(seed).normal(0.0, float(self.strength), rgb.shape)
            return np.clip(np.rint(rgb.astype(np.float64) + noise), 0, 255).astype(np.uint8)
        raise PerturbationError(f"unknown perturbation {self.kind!r}")

    def size_of(self, height: int, width: int) -> tuple[int, int]:
        """(H, W) after the perturbation (only ``resize`` changes it; never below 16 pixels)."""
        if self.kind != "resize":
            return height, width
        return max(MIN_SIDE, int(round(height * self.strength))), max(MIN_SIDE, int(round(width * self.strength)))

    def apply_mask(self, mask: np.ndarray | None) -> np.ndarray | None:
        """The ground-truth mask of the perturbed picture (resized with it, nearest neighbour)."""
        if mask is None or not self.changes_geometry:
            return mask
        height, width = self.size_of(*mask.shape)
        resized = cv2.resize(mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
        return resized.astype(bool)


def _pillow_bytes(rgb: np.ndarray, fmt: str, quality: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, fmt, quality=quality)
    return buffer.getvalue()


def _check(kind: str, value: float, text: str) -> None:
    if kind in ("jpeg", "webp") and not (1 <= value <= 100 and float(value).is_integer()):
        raise PerturbationError(f"{text}: {kind} quality must be a whole number from 1 to 100")
    if kind == "resize" and not (0 < value <= 4):
        raise PerturbationError(f"{text}: resize factor must be above 0 and at most 4")
    if kind in ("blur", "noise") and not (0 < value <= 100):
        raise PerturbationError(f"{text}: {kind} sigma must be above 0 and at most 100")


def parse_perturbation(text: str) -> list[Perturbation]:
    """``"jpeg:95,85,75"`` -> three JPEG perturbations (in the order given)."""
    kind, sep, values = text.strip().partition(":")
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise PerturbationError(f"unknown perturbation {kind!r} in {text!r}; use one of {', '.join(KINDS)}")
    if not sep or not values.strip():
        raise PerturbationError(f"{text!r}: give strengths after the kind, e.g. {kind}:{_EXAMPLES[kind]}")
    found = []
    for part in values.split(","):
        try:
            value = float(part)
        except ValueError:
            raise PerturbationError(f"{text!r}: {part.strip()!r} is not a number") from None
        _check(kind, value, repr(text))
        found.append(Perturbation(kind, value))
    return found


_EXAMPLES = {"jpeg": "95,75", "webp": "80", "resize": "0.75,0.5", "blur": "1,2", "noise": "3,7"}


def parse_perturbations(texts: list[str]) -> list[Perturbation]:
    """Every ``--perturb`` option in order, each (kind, strength) once."""
    found: list[Perturbation] = []
    for text in texts:
        for perturbation in parse_perturbation(text):
            if perturbation not in found:
                found.append(perturbation)
    return found
