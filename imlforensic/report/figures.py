"""``--figures DIR``: every panel of every image page as a 300-dpi PNG and a one-figure PDF.

Names follow the results' names with the panel appended, sub-folders mirrored::

    DIR/NAME_original.png   .pdf   the image as analysed (EXIF orientation applied)
    DIR/NAME_heatmap.png    .pdf   probability map (cividis) with its colour bar and threshold mark
    DIR/NAME_overlay.png    .pdf   mask overlay (the refined one when a refiner was used)
    DIR/NAME_mask.png       .pdf   mask, dark on white (runs without a refiner)
    DIR/NAME_coarse-overlay.png .pdf  overlay before refinement (runs with a refiner)

Each figure is ``width_mm`` wide (at most 0.8 x as tall; narrower for portrait images) and its
PNG carries 300 dpi, so a word processor places it at that size. The colormap is cividis
(colour-blind safe, ordered in grey) and overlays carry contour lines, so they print in grey.
"""

from __future__ import annotations

import functools
import io
import struct
import zlib
from pathlib import Path
from typing import Any, cast

import cv2
import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import FigureCanvasPdf

from imlforensic.io.atomic import atomic_write_bytes
from imlforensic.report.image_page import PageImages, draw_colorbar
from imlforensic.report.layout import MM, Canvas, apply_cmap, fit
from imlforensic.report.panels import HEATMAP_CMAP, mask_for_print, resize_for_figure
from imlforensic.report.pdfimages import embed

RC: dict[str, Any] = {"pdf.fonttype": 42, "axes.unicode_minus": False}

FIGURE_DPI = 300
COLORBAR_H = 42.0  # points below the heatmap for its scale


def figure_names(base: str, refined: bool) -> list[str]:
    panels = ["original", "heatmap", "overlay", "coarse-overlay" if refined else "mask"]
    return [f"{base}_{panel}{ext}" for panel in panels for ext in (".png", ".pdf")]


def png_with_dpi(array: np.ndarray, dpi: int = FIGURE_DPI) -> bytes:
    """PNG bytes (OpenCV's fast encoder) with a pHYs chunk saying ``dpi``."""
    data = array if array.ndim == 2 else cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, buffer = cv2.imencode(".png", data, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    raw = buffer.tobytes()
    ppm = int(round(dpi / 0.0254))
    body = b"pHYs" + struct.pack(">IIB", ppm, ppm, 1)
    chunk = struct.pack(">I", 9) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    end_of_ihdr = 8 + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC
    return raw[:end_of_ihdr] + chunk + raw[end_of_ihdr:]


def _print_pdf(canvas: Canvas, height_pt: float) -> bytes:
    drawn = io.BytesIO()
    with matplotlib.rc_context(cast(Any, RC)):
        FigureCanvasPdf(canvas.fig).print_pdf(drawn)
    canvas.close()
    out = io.BytesIO()
    embed(drawn.getvalue(), [canvas.placed], [height_pt], out)
    return out.getvalue()


# The colour bar is the same for every heatmap figure of a given width and threshold: draw it
# once (font subsetting and Agg text rendering are the slow parts) and reuse it.


@functools.lru_cache(maxsize=16)
def _colorbar_pdf(width_pt: float, threshold: float | None) -> bytes:
    canvas = Canvas(width_pt, COLORBAR_H, defer_images=True)
    draw_colorbar(canvas, 0, 2, width_pt, threshold)
    return _print_pdf(canvas, COLORBAR_H)


@functools.lru_cache(maxsize=16)
def _colorbar_strip(width_px: int, threshold: float | None) -> np.ndarray:
    width_pt = width_px / FIGURE_DPI * 72.0
    canvas = Canvas(width_pt, COLORBAR_H)
    draw_colorbar(canvas, 0, 2, width_pt, threshold)
    canvas.fig.set_dpi(FIGURE_DPI)
    agg = FigureCanvasAgg(canvas.fig)
    agg.draw()
    strip = np.asarray(agg.buffer_rgba())[:, :, :3].copy()
    canvas.close()
    if strip.shape[1] != width_px:
        strip = cv2.resize(strip, (width_px, strip.shape[0]), interpolation=cv2.INTER_AREA)
    return strip


def _pdf_of_image(
    array: np.ndarray,
    width_pt: float,
    height_pt: float,
    threshold: float | None = None,
    colorbar: bool = False,
    lossless: bool = False,
) -> bytes:
    """A one-figure PDF: the picture (and, for heatmaps, the colour bar under it)."""
    total_h = height_pt + (COLORBAR_H if colorbar else 0.0)
    canvas = Canvas(width_pt, total_h, defer_images=True, lossless=lossless)
    canvas.image(0, 0, width_pt, height_pt, array, border=None)
    picture = _print_pdf(canvas, total_h)
    if not colorbar:
        return picture
    from pypdf import PdfReader, PdfWriter, Transformation

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(picture)))
    bar = PdfReader(io.BytesIO(_colorbar_pdf(round(width_pt, 3), threshold))).pages[0]
    writer.pages[0].merge_transformed_page(bar, Transformation())  # PDF origin: bottom left, where the bar goes
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _heatmap_png(rgb: np.ndarray, threshold: float | None) -> bytes:
    """The coloured map with the colour bar strip under it, at 300 dpi."""
    return png_with_dpi(np.vstack([rgb, _colorbar_strip(rgb.shape[1], threshold)]))


def export_figures(
    images: PageImages,
    folder: Path,
    base: str,
    threshold: float | None,
    refined: bool,
    width_mm: float = 160.0,
    lossless: bool = False,
) -> list[Path]:
    """Write the figures of one image; return the files written."""
    reference = next(
        (
            a
            for a in (images.original, images.overlay, images.heatmap, images.heatmap_rgb, images.mask)
            if a is not None
        ),
        None,
    )
    if reference is None:
        return []
    h, w = reference.shape[:2]
    box_w, box_h = fit(w / h, width_mm * MM, 0.8 * width_mm * MM)
    width_px = max(1, int(round(box_w / 72.0 * FIGURE_DPI)))
    # the exact pixel height keeps the image's aspect ratio; the point height follows it
    written: list[Path] = []

    def save(panel: str, array: np.ndarray | None, kind: str) -> None:
        if array is None:
            return
        resized = resize_for_figure(array, width_px, "photo" if kind == "heatmap_rgb" else kind)
        if kind == "mask":
            resized = mask_for_print(resized)  # grey: exact, tiny
        elif kind == "heatmap":
            resized = apply_cmap(resized, HEATMAP_CMAP)
        height_pt = box_w * resized.shape[0] / resized.shape[1]
        if kind in ("heatmap", "heatmap_rgb"):
            png = _heatmap_png(resized, threshold)
            pdf = _pdf_of_image(resized, box_w, height_pt, threshold=threshold, colorbar=True, lossless=lossless)
        else:
            png = png_with_dpi(resized)
            pdf = _pdf_of_image(resized, box_w, height_pt, lossless=lossless)
        for data, ext in ((png, ".png"), (pdf, ".pdf")):
            path = folder / f"{base}_{panel}{ext}"
            atomic_write_bytes(path, data)
            written.append(path)

    save("original", images.original, "photo")
    if images.heatmap is not None:
        save("heatmap", images.heatmap, "heatmap")
    else:
        save("heatmap", images.heatmap_rgb, "heatmap_rgb")
    save("overlay", images.overlay, "photo")
    if refined:
        save("coarse-overlay", images.coarse_overlay, "photo")
    else:
        save("mask", images.mask, "mask")
    return written
