"""``grabcut`` refiner: OpenCV GrabCut seeded from the coarse map (no weights).

For each prompt of the coarse map (:func:`imlforensic.refiners.prompts.prompts_from_map`),
GrabCut runs in a window around the prompt's box (the box enlarged by ``margin`` on every side,
at most ``max_side`` pixels long), with the trimap taken from the map: the component's core
(above the midpoint between the threshold and its maximum) is probably foreground, the rest of
the component too, the box outside the component probably background, and the window outside
the box background. Its foreground becomes a candidate mask for the Bayesian fusion, which
decides whether the candidate or "nothing edited here" explains the map better.

With analyst boxes and no map, GrabCut is initialised with the box (``GC_INIT_WITH_RECT``), the
classical box-to-mask use.
"""

from __future__ import annotations

import cv2
import numpy as np

from imlforensic.refiners.base import Refiner, resize_map, resize_rgb
from imlforensic.refiners.bayes import CandidateGroup, FusionParams, FusionResult, fuse_candidates
from imlforensic.refiners.prompts import Box, Prompt, box_mask, box_slices, prompts_from_map
from imlforensic.registry.cards import ModelCard
from imlforensic.registry.registry import BuildContext


def _window(box: Box, shape: tuple[int, int], margin: float) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    mx, my = margin * (x1 - x0), margin * (y1 - y0)
    h, w = shape
    return (max(0, int(x0 - mx)), max(0, int(y0 - my)), min(w, int(np.ceil(x1 + mx))), min(h, int(np.ceil(y1 + my))))


def _run_grabcut(
    bgr: np.ndarray, trimap: np.ndarray, iterations: int, rect: tuple[int, int, int, int] | None
) -> np.ndarray:
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    mask = trimap.copy()
    try:
        if rect is not None:
            cv2.grabCut(bgr, mask, rect, bgd, fgd, iterations, cv2.GC_INIT_WITH_RECT)
        else:
            cv2.grabCut(
                bgr, mask, (0, 0, 0, 0), bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK
            )  # rect unused in this mode
    except cv2.error:  # degenerate trimap (e.g. no background sample): keep the seeds as they are
        pass
    return (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)


class GrabCutRefiner(Refiner):
    name = "grabcut"

    def __init__(
        self,
        params: FusionParams | None = None,
        margin: float = 0.5,
        max_side: int = 320,
        iterations: int = 4,
        max_prompts: int = 4,
        card: ModelCard | None = None,
    ) -> None:
        super().__init__(params, card)
        self.margin = margin
        self.max_side = max_side
        self.iterations = iterations
        self.max_prompts = max_prompts

    def _segment(self, rgb: np.ndarray, box: Box, coarse: np.ndarray | None, threshold: float) -> np.ndarray:
        """GrabCut foreground (full-size bool mask) for one box, seeded from ``coarse`` when given."""
        shape = rgb.shape[:2]
        wx0, wy0, wx1, wy1 = _window(box, shape, self.margin)
        crop = rgb[wy0:wy1, wx0:wx1]
        scale = min(1.0, self.max_side / max(crop.shape[:2]))
        small_shape = (max(1, int(round(crop.shape[0] * scale))), max(1, int(round(crop.shape[1] * scale))))
        bgr = cv2.cvtColor(resize_rgb(crop, small_shape), cv2.COLOR_RGB2BGR)
        local_box = ((box[0] - wx0) * scale, (box[1] - wy0) * scale, (box[2] - wx0) * scale, (box[3] - wy0) * scale)
        in_box = box_mask([local_box], small_shape)
        if coarse is None:
            x0, y0 = int(local_box[0]), int(local_box[1])
            rect = (x0, y0, max(1, int(np.ceil(local_box[2])) - x0), max(1, int(np.ceil(local_box[3])) - y0))
            trimap = np.zeros(small_shape, np.uint8)
            fg = _run_grabcut(bgr, trimap, self.iterations + 1, rect)
        else:
            c = resize_map(coarse[wy0:wy1, wx0:wx1], small_shape)
            peak = float(c[in_box].max()) if in_box.any() else threshold
            trimap = np.full(small_shape, cv2.GC_BGD, np.uint8)
            trimap[in_box] = cv2.GC_PR_BGD
            trimap[in_box & (c >= threshold)] = cv2.GC_PR_FGD
            core = in_box & (c >= 0.5 * (threshold + peak))
            if core.sum() >= 16:
                trimap[core] = cv2.GC_FGD
            if not (trimap == cv2.GC_BGD).any():  # box fills the window: use its border as background
                trimap[[0, -1], :] = cv2.GC_BGD
                trimap[:, [0, -1]] = cv2.GC_BGD
            fg = _run_grabcut(bgr, trimap, self.iterations, None)
        full = np.zeros(shape, dtype=bool)
        window_fg = cv2.resize(fg.astype(np.uint8), (wx1 - wx0, wy1 - wy0), interpolation=cv2.INTER_NEAREST) > 0
        full[wy0:wy1, wx0:wx1] = window_fg
        return full

    def _groups(
        self, rgb: np.ndarray, coarse: np.ndarray | None, prompts: list[Prompt], threshold: float
    ) -> list[CandidateGroup]:
        groups = []
        for prompt in prompts:
            box = prompt.boxes[0]
            mask = self._segment(rgb, box, coarse, threshold)
            if mask.any():
                groups.append(CandidateGroup(domain=box_mask([box], rgb.shape[:2]), candidates=[mask]))
        return groups

    def fuse(self, rgb: np.ndarray, coarse: np.ndarray, boxes: list[Box] | None, params: FusionParams) -> FusionResult:
        if boxes:
            prompts = [Prompt(boxes=(b,), point=((b[0] + b[2]) / 2, (b[1] + b[3]) / 2), mass=0.0) for b in boxes]
        else:
            prompts = prompts_from_map(coarse, params.prompt_threshold, max_prompts=self.max_prompts)
        return fuse_candidates(self._groups(rgb, coarse, prompts, params.prompt_threshold), coarse, params)

    def from_boxes(self, rgb: np.ndarray, boxes: list[Box], params: FusionParams) -> FusionResult:
        shape = rgb.shape[:2]
        masks = [self._segment(rgb, box, None, params.neutral) for box in boxes]
        union = np.zeros(shape, dtype=bool)
        for box, mask in zip(boxes, masks):
            union[box_slices(box)] |= mask[box_slices(box)]
        posterior = union.astype(np.float32)
        return FusionResult(posterior=posterior, region_probability=posterior, details={"boxes": len(boxes)})


def build(context: BuildContext) -> GrabCutRefiner:  # registry builder
    return GrabCutRefiner(card=context.card)
