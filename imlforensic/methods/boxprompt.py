"""``boxprompt``: the BoxPromptIML student (paper 2) behind the method contract.

The student (:mod:`imlforensic.models.boxprompt`) was distilled from a Segment Anything teacher
prompted with boxes (``imlforensic annotate``, ``imlforensic train-boxprompt``); at run time only
the student runs, no SAM. A picture whose longer side exceeds ``max_side`` (stored in the
checkpoint, :data:`DEFAULT_MAX_SIDE` otherwise) is analysed at that size (area-averaged) and
its map enlarged back bilinearly: the student reads the image and its noise residual, not
JPEG-grid statistics that resizing would destroy, and this bounds its time and memory on large
photographs. The views are padded (reflected) to a multiple of the network's stride. The map is
the student's per-pixel probability; the score is pooled from it (:func:`imlforensic.maps.pool_score`)
and the threshold is the one stored in the checkpoint.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from imlforensic.io.images import LoadedImage
from imlforensic.maps import pool_score, sigmoid
from imlforensic.methods.base import Method, MethodOutput
from imlforensic.models.boxprompt import BoxPromptNet, load_boxprompt
from imlforensic.models.inputs import build_views
from imlforensic.registry.cards import ModelCard
from imlforensic.registry.registry import BuildContext

DEFAULT_MAX_SIDE = 768


def student_logits(model: BoxPromptNet, rgb: np.ndarray, luma_table: np.ndarray | None, device: str) -> np.ndarray:
    """The student's logit map (H x W float32) of an RGB image at its own size."""
    views = torch.from_numpy(build_views(rgb, model.config.network_views(), luma_table))[None].to(device)
    h, w = views.shape[-2:]
    ph, pw = (-h) % model.stride, (-w) % model.stride
    if ph or pw:
        views = F.pad(views, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "replicate")
    with torch.inference_mode():
        logits = model(views)[0, 0, :h, :w]
    return logits.float().cpu().numpy()


class BoxPromptMethod(Method):
    def __init__(
        self,
        card: ModelCard,
        model: BoxPromptNet,
        device: str,
        default_threshold: float = 0.5,
        max_side: int = DEFAULT_MAX_SIDE,
    ) -> None:
        super().__init__(card, default_threshold)
        self.model = model.eval()
        self.device = device
        self.max_side = int(max_side)

    def analyse(self, image: LoadedImage) -> MethodOutput:
        rgb = image.rgb
        h, w = rgb.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        table = image.luma_table
        if scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            rgb, table = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), None
        logits = student_logits(self.model, rgb, table, self.device)
        heatmap = sigmoid(logits)
        if heatmap.shape != (h, w):
            heatmap = np.clip(cv2.resize(heatmap, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
        return MethodOutput(heatmap=heatmap, score=pool_score(heatmap), details={"analysed_scale": round(scale, 4)})


def build(context: BuildContext) -> BoxPromptMethod:  # registry builder
    assert context.weights_path is not None and context.device is not None
    model, metadata = load_boxprompt(context.weights_path, device=context.device)
    side = metadata.get("max_side", DEFAULT_MAX_SIDE)
    return BoxPromptMethod(
        context.card,
        model,
        context.device,
        default_threshold=float(metadata.get("threshold", context.entry.default_threshold)),
        max_side=int(side) if isinstance(side, int) and 32 <= side <= 8192 else DEFAULT_MAX_SIDE,
    )
