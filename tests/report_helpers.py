"""Test helpers for the report: images made in the test, and ``localize``-style results built by hand.

``fake_result`` writes exactly what ``localize`` writes (the same PNG renderers, a record with
schema ``imlforensic.result/1``), from a chosen heatmap, so report tests need not run a method
and can build cases that ``localize`` cannot make yet (refined results, ``generated`` verdicts).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from imlforensic.io.render import encode_png, heatmap_to_colour, heatmap_to_grey, mask_to_grey, render_overlay
from imlforensic.maps import binarize
from imlforensic.methods.base import is_whole_image_finding

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "images"


def photo(width: int = 240, height: int = 160, seed: int = 0) -> np.ndarray:
    """A textured synthetic 'photo' (gradients, shapes, noise), RGB uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([
        120 + 80 * np.sin(xx / max(width, 1) * 3.1 + seed),
        110 + 70 * np.cos(yy / max(height, 1) * 2.3),
        90 + 60 * np.sin((xx + yy) / max(width + height, 1) * 4.0),
    ], axis=2)
    cx, cy, r = width * 0.6, height * 0.45, min(width, height) * 0.22
    disc = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
    base[disc] = [200, 60, 40]
    base += rng.normal(0, 6, base.shape)
    return np.clip(base, 0, 255).astype(np.uint8)


def save_jpeg(path: Path, rgb: np.ndarray, quality: int = 90, exif: dict[int, str] | None = None,
              exif_ifd: dict[int, str] | None = None) -> Path:
    image = Image.fromarray(rgb)
    kwargs = {}
    if exif or exif_ifd:
        data = Image.Exif()
        for tag, value in (exif or {}).items():
            data[tag] = value
        if exif_ifd:
            data.get_ifd(0x8769).update(exif_ifd)
        kwargs["exif"] = data.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", quality=quality, **kwargs)
    return path


def edit_heatmap(height: int, width: int, strength: float = 0.9, where: tuple[float, float, float] = (0.6, 0.45, 0.2)) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy, r = width * where[0], height * where[1], min(width, height) * where[2]
    d2 = ((xx - cx) ** 2 + (yy - cy) ** 2) / (r * r)
    return (0.05 + (strength - 0.05) * np.exp(-d2 * 1.5)).astype(np.float32)


def fake_result(out: Path, image_path: Path, heatmap: np.ndarray | None = None, threshold: float = 0.5,
                verdict: str | None = None, class_probs: dict[str, float] | None = None,
                refined: bool = False, name: str | None = None, method: str = "classical") -> dict:
    """Write NAME.{heatmap,heatmap-color,mask,overlay}.png and NAME.json as ``localize`` would."""
    data = image_path.read_bytes()
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    h, w = rgb.shape[:2]
    heatmap = edit_heatmap(h, w) if heatmap is None else heatmap
    name = name or image_path.stem
    out.mkdir(parents=True, exist_ok=True)
    outputs = {}

    def write(kind: str, suffix: str, array: np.ndarray) -> None:
        (out / f"{name}{suffix}").write_bytes(encode_png(array))
        outputs[kind] = f"{name}{suffix}"

    final = heatmap
    if refined:
        coarse = np.clip(heatmap * 0.8 + 0.1, 0, 1).astype(np.float32)
        coarse_mask = binarize(coarse, threshold)
        write("coarse_heatmap", ".coarse-heatmap.png", heatmap_to_grey(coarse))
        write("coarse_overlay", ".coarse-overlay.png", render_overlay(rgb, coarse_mask, is_whole_image_finding(verdict)))
    mask = binarize(final, threshold)
    write("heatmap", ".heatmap.png", heatmap_to_grey(final))
    write("heatmap_color", ".heatmap-color.png", heatmap_to_colour(final))
    write("mask", ".mask.png", mask_to_grey(mask))
    write("overlay", ".overlay.png", render_overlay(rgb, mask, is_whole_image_finding(verdict)))
    score = float(np.sort(final.ravel())[-max(16, int(0.0025 * final.size))])
    card = {"name": method, "task": "detector", "version": "1.0", "weights_sha256": None,
            "reference": "Wang & Abhayaratne, WCBnet, MMSP 2023 (signed error levels); Farid, JPEG ghosts, TIFS 2009"}
    refiner = None
    if refined:
        refiner = {"name": "testseg", "task": "segmenter", "version": "0.3",
                   "weights_sha256": "ab" * 32, "reference": "Kirillov et al., Segment Anything, ICCV 2023"}
    record = {
        "schema": "imlforensic.result/1",
        "input": {
            "path": str(image_path), "resolved_path": str(image_path.resolve()),
            "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "format": Image.open(image_path).format,
            "mode": "RGB", "width": w, "height": h, "exif_orientation": 1, "conversions": [], "jpeg_quality": None,
        },
        "verdict": verdict or ("manipulated" if score >= threshold else "authentic"),
        "score": round(score, 6),
        "class_probs": class_probs,
        "flagged_fraction": round(float(mask.mean()), 6),
        "method": card,
        "refiner": refiner,
        "threshold": threshold,
        "settings": {"command": "localize", "device": "auto", "max_pixels": 100_000_000, "threshold": threshold},
        "outputs": {**outputs, "json": f"{name}.json"},
        "timings_s": {"analyse": 0.1},
        "tool": {"name": "imlforensic", "version": "0.1.0"},
        "created": dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc).isoformat(),
    }
    (out / f"{name}.json").write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")
    return record


def pdf_text(path: Path) -> list[str]:
    """Text of every page (pypdf)."""
    from pypdf import PdfReader

    return [page.extract_text() or "" for page in PdfReader(str(path)).pages]


def render_page(path: Path, index: int, scale: float = 1.0) -> np.ndarray:
    """Page ``index`` rendered to an RGB array (pypdfium2, from the `test` extra)."""
    import pytest

    pdfium = pytest.importorskip("pypdfium2")

    document = pdfium.PdfDocument(str(path))
    try:
        image = document[index].render(scale=scale).to_pil().convert("RGB")
    finally:
        document.close()
    return np.asarray(image)
