"""The learned weakly supervised localizer behind the method contract.

Inference is fully convolutional at the image's own resolution (forensic traces do not
survive resizing). Images up to ``tile`` x ``tile`` pixels go through in one pass; larger ones
are cut into overlapping tiles whose origins are multiples of 32 (so the JPEG 8x8 grid and the
network's stride line up the same way in every tile), and the tiles' logit maps are blended
with weights that fall off towards tile borders. The views (RGB + signed error levels) are
computed once on the whole image before tiling.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from imlforensic.io.images import LoadedImage
from imlforensic.maps import pool_score
from imlforensic.models.checkpoint import load_model
from imlforensic.models.inputs import build_views
from imlforensic.models.network import MultiViewCAMNet
from imlforensic.result import MethodOutput

STRIDE = 32  # the network's coarsest stride


def _pad_to_multiple(views: torch.Tensor, multiple: int) -> torch.Tensor:
    h, w = views.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        views = F.pad(views, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "replicate")
    return views


def _ramp(length: int, overlap: int, taper_start: bool, taper_end: bool) -> np.ndarray:
    """Blending weights along one side of a tile: 1, falling linearly over ``overlap`` pixels
    at an end that another tile overlaps (image borders keep full weight)."""
    ramp = np.ones(length, np.float32)
    n = min(overlap, length // 2)
    if n > 0:
        edge = np.linspace(0.05, 1.0, n, dtype=np.float32)
        if taper_start:
            ramp[:n] = edge
        if taper_end:
            ramp[-n:] = edge[::-1]
    return ramp


def tile_origins(length: int, tile: int, overlap: int) -> list[int]:
    """Tile starts (multiples of STRIDE) covering ``length`` with at least ``overlap`` shared."""
    if length <= tile:
        return [0]
    step = max(STRIDE, (tile - overlap) // STRIDE * STRIDE)
    last = (length - tile + STRIDE - 1) // STRIDE * STRIDE
    origins = list(range(0, last, step)) + [last]
    return sorted(set(origins))


@dataclass
class LearnedLocalizer:
    model: MultiViewCAMNet
    device: str
    tile: int = 1024
    overlap: int = 128

    @torch.inference_mode()
    def logit_map(self, rgb: np.ndarray) -> np.ndarray:
        """Fused logit map at the image's full size (H x W, float32)."""
        h, w = rgb.shape[:2]
        views = torch.from_numpy(build_views(rgb, self.model.config.qualities)).unsqueeze(0)
        if h <= self.tile and w <= self.tile:
            return self._run(views)[:h, :w]
        total = np.zeros((h, w), np.float32)
        weight = np.zeros((h, w), np.float32)
        for y in tile_origins(h, self.tile, self.overlap):
            for x in tile_origins(w, self.tile, self.overlap):
                crop = views[..., y:y + self.tile, x:x + self.tile]
                th, tw = crop.shape[-2:]
                logits = self._run(crop)[:th, :tw]
                ramp = np.outer(_ramp(th, self.overlap, y > 0, y + th < h), _ramp(tw, self.overlap, x > 0, x + tw < w))
                total[y:y + th, x:x + tw] += ramp * logits
                weight[y:y + th, x:x + tw] += ramp
        return total / np.maximum(weight, 1e-6)

    def _run(self, views: torch.Tensor) -> np.ndarray:
        h, w = views.shape[-2:]
        padded = _pad_to_multiple(views, STRIDE).to(self.device, memory_format=torch.channels_last)
        logits = self.model(padded)["logit_map"]
        full = F.interpolate(logits, size=padded.shape[-2:], mode="bilinear", align_corners=False)
        return full[0, 0, :h, :w].float().cpu().numpy()

    def analyse(self, image: LoadedImage) -> MethodOutput:
        heatmap = 1.0 / (1.0 + np.exp(-self.logit_map(image.rgb)))
        return MethodOutput(heatmap=heatmap, score=pool_score(heatmap))


def build(entry, weights_path: Path, device: str) -> LearnedLocalizer:  # registry builder
    model, _ = load_model(weights_path, device=device)
    return LearnedLocalizer(model=model.to(memory_format=torch.channels_last), device=device)
