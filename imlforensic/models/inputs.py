"""The learned localizer's input: views of the image stacked as one tensor.

View kinds (``NetworkConfig.views``), all computed on the whole image before any tiling, so
every tile sees the image's own JPEG grid and image-wide statistics:

* ``rgb``: the image, normalised with mean = std = 0.5 (the backbone's ImageNet convention);
* ``sel``: signed error levels ``rgb - jpeg_q(rgb)`` at ``NetworkConfig.qualities`` (WCBnet's
  view), divided by ``SEL_SCALE`` and clipped; only meaningful at full resolution;
* ``ghost``: the classical SEL features of :func:`imlforensic.views.error_level.sel_features`:
  per quality, the robust z-score (against the image's own statistics) of the luminance
  error relative to texture and of the luminance error profile, plus the texture weight;
* ``noise``: the noise-residual anomaly map (robust z);
* ``dq``: aligned double JPEG compression per 8x8 block (:mod:`imlforensic.views.double_jpeg`):
  one plane of evidence for "compressed once / off the grid" and one for "compressed twice",
  from the file's luminance table (all zero for files that are not JPEG).

With ``input_scale`` s > 1 the network reads every view at 1/s of the image's size (RGB and
noise area-averaged; the ghost features are local window statistics computed at that size).

Large pictures (:func:`imlforensic.chunked.is_large`) are not held as one stack of views (22
float32 planes at a quarter of the picture's size are 2.2 GB at 100 megapixels): :class:`TiledViews`
computes the image-wide statistics first, in strips, then the views of one tile at a time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch

from imlforensic.views.double_jpeg import block_pixels, llr_map, smoothed_llr
from imlforensic.views.error_level import DEFAULT_QUALITIES, MARGIN, SelWindows, sel_features, signed_error_levels
from imlforensic.views.noise import noise_anomaly, streamed_noise_z

if TYPE_CHECKING:
    from imlforensic.models.network import NetworkConfig

SEL_SCALE = 16.0
SEL_CLIP = 2.0
Z_SCALE = 4.0  # robust z-scores divided by this and clipped to [0, 2.5]
LLR_SCALE = 0.5  # per-pixel double-quantisation LLRs (5-95% about -0.4..0.5) divided by this, clipped to [0, 2.5]
GHOST_QUALITIES = DEFAULT_QUALITIES
VIEW_KINDS = ("rgb", "sel", "ghost", "noise", "dq")


def input_channels(config: NetworkConfig) -> int:
    sizes = {"rgb": 3, "sel": 3 * len(config.qualities), "ghost": 2 * len(GHOST_QUALITIES) + 1, "noise": 1, "dq": 2}
    return sum(sizes[view] for view in config.views)


def view_size(height: int, width: int, scale: int) -> tuple[int, int]:
    return max(1, height // scale), max(1, width // scale)


def _area(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if image.shape[:2] == size:
        return image
    return cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)


def build_views(rgb: np.ndarray, config: NetworkConfig, luma_table: np.ndarray | None = None) -> np.ndarray:
    """Float32 array (C, H/s, W/s) of the configured views, in ``config.views`` order.

    ``luma_table``: the JPEG luminance quantisation table aligned with ``rgb`` (``dq`` view)."""
    height, width = rgb.shape[:2]
    size = view_size(height, width, config.input_scale)
    planes: list[np.ndarray] = []
    for view in config.views:
        if view == "rgb":
            image = _area(rgb, size).astype(np.float32) / 255.0
            planes.append(((image - 0.5) / 0.5).transpose(2, 0, 1))
        elif view == "sel":
            if config.input_scale != 1:
                raise ValueError("the 'sel' view needs input_scale 1 (signed errors do not survive averaging)")
            sel = signed_error_levels(rgb, config.qualities) / SEL_SCALE  # (Q, H, W, 3)
            planes.append(np.clip(sel, -SEL_CLIP, SEL_CLIP).transpose(0, 3, 1, 2).reshape(-1, *size))
        elif view == "ghost":
            z, weight = sel_features(rgb, GHOST_QUALITIES, factor=config.input_scale, colour=False)
            z = np.clip(z / Z_SCALE, 0.0, 2.5)
            planes += [np.stack([_area(p, size) for p in z]), _area(weight, size)[None]]
        elif view == "noise":
            planes.append(np.clip(_area(noise_anomaly(rgb), size) / Z_SCALE, 0.0, 2.5)[None])
        elif view == "dq":
            llr = _area(llr_map(rgb, luma_table), size) / LLR_SCALE
            planes.append(np.stack([np.clip(-llr, 0.0, 2.5), np.clip(llr, 0.0, 2.5)]))
        else:
            raise ValueError(f"unknown view {view!r}; known: {', '.join(VIEW_KINDS)}")
    return np.ascontiguousarray(np.concatenate(planes, axis=0), dtype=np.float32)


def to_tensor(views: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(views).unsqueeze(0)


class TiledViews:
    """The views of :func:`build_views` for one window at a time (large pictures, issue 16).

    Image-wide statistics come from the whole picture, computed in strips when the object is made:
    the ghost features' medians and spreads (:class:`~imlforensic.views.error_level.SelWindows`), the
    noise view's per-block z-scores (:func:`~imlforensic.views.noise.streamed_noise_z`) and the
    double-quantisation fit (:func:`~imlforensic.views.double_jpeg.smoothed_llr`). A window's views
    are then computed from its pixels plus a margin, so they equal the whole picture's views there,
    except that every view sample is the exact mean of an ``s`` x ``s`` cell (where
    :func:`build_views` resizes a side that is not a multiple of ``s`` fractionally).
    """

    def __init__(self, rgb: np.ndarray, config: NetworkConfig, luma_table: np.ndarray | None = None) -> None:
        self.rgb = rgb
        self.config = config
        self.scale = config.input_scale
        self.size = view_size(rgb.shape[0], rgb.shape[1], self.scale)
        for view in config.views:
            if view not in VIEW_KINDS:
                raise ValueError(f"unknown view {view!r}; known: {', '.join(VIEW_KINDS)}")
            if view == "sel" and self.scale != 1:
                raise ValueError("the 'sel' view needs input_scale 1 (signed errors do not survive averaging)")
        views = config.views
        self.ghost = SelWindows.of(rgb, GHOST_QUALITIES, factor=self.scale, colour=False) if "ghost" in views else None
        self.noise = streamed_noise_z(rgb) if "noise" in views else None
        self.dq = smoothed_llr(rgb, luma_table, streamed=True) if "dq" in views else None

    def window(self, top: int, bottom: int, left: int, right: int) -> np.ndarray:
        """Float32 array (C, bottom - top, right - left): the views of view rows [top, bottom) and
        columns [left, right), in ``config.views`` order."""
        s = self.scale
        size = (bottom - top, right - left)
        pixels = (slice(top * s, bottom * s), slice(left * s, right * s))
        planes: list[np.ndarray] = []
        for view in self.config.views:
            if view == "rgb":
                image = _area(self.rgb[pixels], size).astype(np.float32) / 255.0
                planes.append(((image - 0.5) / 0.5).transpose(2, 0, 1))
            elif view == "sel":
                planes.append(self._sel(top, bottom, left, right))
            elif view == "ghost":
                assert self.ghost is not None
                z, weight = self.ghost.window(top, bottom, left, right)
                planes += [np.clip(z / Z_SCALE, 0.0, 2.5), weight[None]]
            elif view == "noise":
                noise = self._noise_pixels(*pixels)
                planes.append(np.clip(_area(noise, size) / Z_SCALE, 0.0, 2.5)[None])
            else:  # dq
                if self.dq is None:
                    llr = np.zeros(size, np.float32)
                else:
                    llr = _area(
                        block_pixels(self.dq, pixels[0].start, pixels[0].stop, pixels[1].start, pixels[1].stop), size
                    )
                llr = llr / LLR_SCALE
                planes.append(np.stack([np.clip(-llr, 0.0, 2.5), np.clip(llr, 0.0, 2.5)]))
        return np.ascontiguousarray(np.concatenate(planes, axis=0), dtype=np.float32)

    def _sel(self, top: int, bottom: int, left: int, right: int) -> np.ndarray:
        """Signed error levels of a window (input_scale 1), from its crop plus a margin on the
        JPEG macroblock grid (the chroma of a 4:2:0 round trip reaches across blocks)."""
        height, width = self.rgb.shape[:2]
        y0, x0 = (max(0, v - MARGIN) // 16 * 16 for v in (top, left))
        y1, x1 = (min(n, v + MARGIN) for v, n in ((bottom, height), (right, width)))
        sel = signed_error_levels(self.rgb[y0:y1, x0:x1], self.config.qualities)[
            :, top - y0 : bottom - y0, left - x0 : right - x0
        ]
        sel = np.clip(sel / SEL_SCALE, -SEL_CLIP, SEL_CLIP)
        return sel.transpose(0, 3, 1, 2).reshape(-1, bottom - top, right - left)

    def _noise_pixels(self, rows: slice, cols: slice) -> np.ndarray:
        """The noise anomaly (:func:`noise_anomaly`) at image pixels ``rows`` x ``cols``: the per-block
        z-scores around them, enlarged as the whole picture's are (block centres line up)."""
        height, width = rows.stop - rows.start, cols.stop - cols.start
        if self.noise is None:
            return np.zeros((height, width), np.float32)
        block = 16
        r0, c0 = max(0, rows.start // block - 2), max(0, cols.start // block - 2)
        r1, c1 = (
            min(n, -(-v // block) + 2) for v, n in ((rows.stop, self.noise.shape[0]), (cols.stop, self.noise.shape[1]))
        )
        grid = self.noise[r0:r1, c0:c1]
        upsampled = cv2.resize(grid, (grid.shape[1] * block, grid.shape[0] * block), interpolation=cv2.INTER_LINEAR)
        y, x = rows.start - r0 * block, cols.start - c0 * block
        return upsampled[y : y + height, x : x + width]
