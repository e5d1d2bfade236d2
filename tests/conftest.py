"""Shared helpers: images are made here, from the bundled examples' CC0 sources (scikit-image)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data
from typer.testing import CliRunner

# Let tests import their shared helpers (tests/refine_cases.py) as top-level modules.
sys.path.insert(0, str(Path(__file__).parent))


def jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def make_splice(host: np.ndarray, donor: np.ndarray, host_quality: int = 90, donor_quality: int = 50):
    """Paste a 128 x 160 block of ``donor`` (saved at ``donor_quality``) into ``host`` (saved at
    ``host_quality``), on the 8-pixel JPEG grid; returns (composite RGB, ground-truth mask)."""
    host = jpeg_roundtrip(host, host_quality)
    donor = jpeg_roundtrip(donor, donor_quality)
    out = host.copy()
    mask = np.zeros(host.shape[:2], bool)
    out[96:224, 160:320] = donor[64:192, 96:256]
    mask[96:224, 160:320] = True
    return out, mask


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    return {"coffee": data.coffee(), "astronaut": data.astronaut(), "rocket": data.rocket(), "chelsea": data.chelsea()}


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture()
def isolated_registry(monkeypatch):
    """Let a test swap registry entries (``--weights``) without leaking models into other tests."""
    from imlforensic.registry import REGISTRY

    monkeypatch.setattr(REGISTRY, "_entries", dict(REGISTRY._entries))
    monkeypatch.setattr(REGISTRY, "_loaded", {})
    monkeypatch.setattr(REGISTRY, "_weights_sha", {})
    return REGISTRY


def save(rgb: np.ndarray, path: Path, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path, **kwargs)
    return path


def labelled_folder(root: Path, photos: dict[str, np.ndarray], n: int = 12) -> None:
    """A tiny image-level-labelled dataset: authentic/ = plain crops; manipulated/ = crops with a
    pasted block of strong noise (for the tiny training runs of the learned networks)."""
    import cv2

    rng = np.random.default_rng(0)
    sources = [cv2.resize(p, (192, 128)) for p in photos.values()]
    for i in range(n):
        image = sources[i % len(sources)].copy()
        save(image, root / "authentic" / f"a{i}.png")
        y, x = rng.integers(0, 64), rng.integers(0, 96)
        block = image[y : y + 48, x : x + 64].astype(float) + rng.normal(0, 40, (48, 64, 3))
        image[y : y + 48, x : x + 64] = np.clip(block, 0, 255).astype(np.uint8)
        save(image, root / "manipulated" / f"m{i}.png")
