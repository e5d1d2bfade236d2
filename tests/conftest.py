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
