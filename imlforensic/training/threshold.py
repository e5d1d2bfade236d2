"""Choose a localizer's default threshold on synthetic edits, never on evaluation data.

A fixed, seeded set of synthetic samples (the training synthesizer's edits and untouched
crops, from photos) is analysed; the threshold is the one that maximises the mean pixel F1 of
the edited samples (masks applied with the pipeline's own rule, imlforensic.maps.binarize)
among the thresholds whose mean false-alarm fraction on the untouched samples stays at or
below ``max_false_alarm``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from imlforensic.maps import binarize
from imlforensic.metrics import pixel
from imlforensic.models.inputs import build_views
from imlforensic.models.network import MultiViewCAMNet
from imlforensic.training.synth import EditSynthesizer

CANDIDATES = np.round(np.arange(0.2, 0.91, 0.05), 2)


@torch.no_grad()
def choose_threshold(model: MultiViewCAMNet, photos: list[Path], samples: int = 240, seed: int = 12345,
                     size: tuple[int, int] = (256, 384), max_false_alarm: float = 0.02) -> dict[str, float]:
    synthesizer = EditSynthesizer(photos, size=size)
    rng = np.random.default_rng(seed)
    model.eval()
    f1 = {t: [] for t in CANDIDATES}
    false_alarm = {t: [] for t in CANDIDATES}
    for _ in range(samples):
        sample = synthesizer.sample(rng)
        views = torch.from_numpy(build_views(sample.rgb, model.config, sample.luma_table))[None]
        logits = model(views.to(memory_format=torch.channels_last))["logit_map"]
        heatmap = torch.sigmoid(F.interpolate(logits, size=size, mode="bilinear", align_corners=False))[0, 0].numpy()
        for t in CANDIDATES:
            mask = binarize(heatmap, float(t))
            if sample.label:
                f1[t].append(pixel.f1_score(sample.mask, mask))
            else:
                false_alarm[t].append(pixel.false_alarm_fraction(mask))
    allowed = [t for t in CANDIDATES if np.mean(false_alarm[t]) <= max_false_alarm] or [CANDIDATES[-1]]
    best = max(allowed, key=lambda t: np.mean(f1[t]))
    return {"threshold": float(best), "synthetic_f1": float(np.mean(f1[best])),
            "synthetic_false_alarm": float(np.mean(false_alarm[best])), "samples": samples, "seed": seed}
