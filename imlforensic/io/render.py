"""Turn heatmaps and masks into the PNG images analysts look at and paste into reports.

* grey probability map: 8-bit, 0..255 = probability 0..1 (``round(p * 255)``);
* colour heatmap: *cividis*, a perceptually uniform colormap designed to read the same for
  people with colour-vision deficiency, whose lightness rises monotonically so it also prints
  correctly in grey;
* overlay: the image, slightly desaturated, a translucent fill of the mask and a two-tone
  contour (light outside, dark inside) that stays visible on any background, in print and in grey.
  For a picture judged fully generated (a whole-image finding) the overlay is the desaturated
  picture with a banner "FULLY GENERATED" across its top and no fill or contour: there is no
  edited region to outline (:func:`render_overlay` with ``whole_image``).
  Overlays hold at most :data:`OVERLAY_MAX_PIXELS`: the overlay of a larger picture is an
  area-downscaled preview (:func:`overlay_size`), a size a report or a slide can take; the grey and
  colour heatmaps and the mask always keep the picture's full resolution.
"""

from __future__ import annotations

import cv2
import numpy as np

OVERLAY_FILL_RGB = (255, 64, 0)  # vivid orange-red; the contour, not the hue, carries the outline
OVERLAY_FILL_ALPHA = 0.40
OVERLAY_MAX_PIXELS = 2048 * 2048
"""Largest overlay (4.2 megapixels, about a 2500 x 1670 photo): a PNG of some 5 MB."""
GENERATED_BANNER_RGB = (122, 46, 110)  # the report's colour of the ``generated`` verdict
GENERATED_LABEL = "FULLY GENERATED"
GENERATED_LABEL_LONG = "FULLY GENERATED (whole image)"
ROWS = 1024  # rows converted at a time: no full-size float temporaries


def heatmap_to_grey(heatmap: np.ndarray) -> np.ndarray:
    """Probability map in [0,1] to uint8 0..255."""
    values = np.asarray(heatmap, dtype=np.float32)
    if values.ndim != 2:
        return np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8)
    grey = np.empty(values.shape, np.uint8)
    for top in range(0, values.shape[0], ROWS):
        grey[top : top + ROWS] = np.clip(np.rint(values[top : top + ROWS] * 255.0), 0, 255)
    return grey


def grey_to_heatmap(grey: np.ndarray) -> np.ndarray:
    """Inverse of :func:`heatmap_to_grey` (8-bit or 16-bit grey to [0,1] float32)."""
    grey = np.asarray(grey)
    scale = 65535.0 if grey.dtype == np.uint16 else 255.0
    return (grey.astype(np.float32) / scale).clip(0.0, 1.0)


def heatmap_to_colour(heatmap: np.ndarray) -> np.ndarray:
    """Probability map to an RGB uint8 image with the cividis colormap."""
    return cv2.cvtColor(heatmap_to_colour_bgr(heatmap), cv2.COLOR_BGR2RGB)


def heatmap_to_colour_bgr(heatmap: np.ndarray) -> np.ndarray:
    """:func:`heatmap_to_colour` in OpenCV's channel order, for :func:`encode_png` with ``bgr``
    (no two full-size conversions: 600 MB at 100 megapixels)."""
    return cv2.applyColorMap(heatmap_to_grey(heatmap), cv2.COLORMAP_CIVIDIS)


def mask_to_grey(mask: np.ndarray) -> np.ndarray:
    """Boolean mask to uint8 0/255."""
    return np.where(np.asarray(mask, dtype=bool), np.uint8(255), np.uint8(0))


def contour_width(height: int, width: int) -> int:
    """Contour thickness that stays visible when the image is scaled to a page width."""
    return max(2, int(round(min(height, width) / 250)))


def overlay_size(height: int, width: int) -> tuple[int, int]:
    """(height, width) of the overlay of a picture: its own up to :data:`OVERLAY_MAX_PIXELS`,
    else scaled down to hold about that many pixels (aspect ratio kept)."""
    if height * width <= OVERLAY_MAX_PIXELS:
        return height, width
    scale = (OVERLAY_MAX_PIXELS / (height * width)) ** 0.5
    return max(1, int(height * scale)), max(1, int(width * scale))


def _preview(rgb: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The picture and the mask at :func:`overlay_size` (area averaging; a preview pixel is in
    the mask when at least half of it is, or, should that leave nothing, any of it)."""
    height, width = overlay_size(*mask.shape)
    if (height, width) == mask.shape:
        return rgb, mask
    small = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
    coverage = cv2.resize(
        np.ascontiguousarray(mask).view(np.uint8) * np.uint8(255), (width, height), interpolation=cv2.INTER_AREA
    )
    shown = coverage >= 128
    return small, shown if shown.any() or not mask.any() else coverage > 0


def banner_height(height: int, width: int) -> int:
    """Height in pixels of the "fully generated" banner on an overlay of this size."""
    return min(height, max(12, int(round(min(height, width) * 0.09))))


def draw_generated_banner(out: np.ndarray) -> None:
    """Draw the whole-image label across the top of ``out`` (RGB uint8, in place)."""
    height, width = out.shape[:2]
    band = banner_height(height, width)
    out[:band] = GENERATED_BANNER_RGB
    font = cv2.FONT_HERSHEY_SIMPLEX

    def fitted(label: str) -> tuple[float, int]:
        """The label's scale filling 60 % of the band's height or 92 % of its width, and its height."""
        (text_w, text_h), _ = cv2.getTextSize(label, font, 1.0, 2)
        return min(0.6 * band / text_h, 0.92 * width / text_w), text_h

    # the long label, unless the width shrinks it below 55 % of the band's height (narrow pictures)
    label = GENERATED_LABEL_LONG
    scale, text_h = fitted(label)
    if scale * text_h < 0.55 * band:
        label = GENERATED_LABEL
        scale, _ = fitted(label)
    thickness = max(1, int(round(scale * 2)))
    (text_w, text_h), _ = cv2.getTextSize(label, font, scale, thickness)
    origin = (max(0, (width - text_w) // 2), (band + text_h) // 2)
    cv2.putText(out, label, origin, font, scale, (255, 255, 255), thickness, cv2.LINE_AA)


def render_overlay(rgb: np.ndarray, mask: np.ndarray, whole_image: bool = False) -> np.ndarray:
    """The image with the mask as a translucent fill and a light/dark double contour, at
    :func:`overlay_size` (a downscaled preview for pictures above :data:`OVERLAY_MAX_PIXELS`).

    ``whole_image``: the finding is the whole picture (a ``generated`` verdict): the mask is not
    drawn, a "FULLY GENERATED" banner is (:func:`draw_generated_banner`)."""
    rgb, shown = _preview(rgb, np.asarray(mask, dtype=bool))
    mask_u8 = shown.astype(np.uint8)
    # Slight desaturation makes the fill stand out on colourful photos without hiding content.
    grey = cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    out = cv2.addWeighted(rgb, 0.75, grey, 0.25, 0.0)
    if whole_image:
        draw_generated_banner(out)
        return out
    if not mask_u8.any():
        return out
    fill = np.empty_like(out)
    fill[:] = OVERLAY_FILL_RGB
    filled = cv2.addWeighted(out, 1.0 - OVERLAY_FILL_ALPHA, fill, OVERLAY_FILL_ALPHA, 0.0)
    cv2.copyTo(filled, mask_u8, out)
    contours, _ = cv2.findContours(mask_u8, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    w = contour_width(*mask_u8.shape)
    cv2.drawContours(out, contours, -1, (255, 255, 255), thickness=2 * w + 2, lineType=cv2.LINE_AA)
    cv2.drawContours(out, contours, -1, (0, 0, 0), thickness=w, lineType=cv2.LINE_AA)
    return out


def encode_png(image: np.ndarray, compression: int = 1, bgr: bool = False) -> bytes:
    """PNG bytes of a grey (H x W) or RGB (H x W x 3; BGR with ``bgr``) uint8 array."""
    array = np.asarray(image)
    if array.ndim == 3 and not bgr:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, buffer = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, compression])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buffer.tobytes()
