"""Choose a localizer's default threshold on synthetic edits, never on evaluation data.

A fixed, seeded set of synthetic samples (the training synthesizer's edits and untouched
crops, from photos) is analysed by the localizer exactly as a user's image would be (the
method's own fused map: network, test-time flip, sel view); the threshold is the one that
maximises the mean pixel F1 of the edited samples (masks applied with the pipeline's own rule,
imlforensic.maps.binarize, after the image-level decision) among the thresholds whose mean
false-alarm fraction on the untouched samples stays at or below ``max_false_alarm``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from imlforensic.maps import binarize, pool_score
from imlforensic.metrics import pixel
from imlforensic.models.localizer import LearnedLocalizer
from imlforensic.models.network import CAMEnsemble, MultiViewCAMNet
from imlforensic.training.synth import EditSynthesizer

CANDIDATES = np.round(np.arange(0.2, 0.91, 0.05), 2)


def choose_threshold(localizer: LearnedLocalizer, photos: list[Path], samples: int = 240, seed: int = 12345,
                     size: tuple[int, int] = (256, 384), max_false_alarm: float = 0.02) -> dict[str, float]:
    synthesizer = EditSynthesizer(photos, size=size)
    rng = np.random.default_rng(seed)
    localizer.model.eval()
    f1 = {t: [] for t in CANDIDATES}
    false_alarm = {t: [] for t in CANDIDATES}
    for _ in range(samples):
        sample = synthesizer.sample(rng)
        heatmap, _ = localizer.heatmap(sample.rgb, sample.luma_table)
        score = pool_score(heatmap)
        for t in CANDIDATES:
            mask = binarize(heatmap, float(t)) if score >= t else np.zeros(heatmap.shape, bool)
            if sample.label:
                f1[t].append(pixel.f1_score(sample.mask, mask))
            else:
                false_alarm[t].append(pixel.false_alarm_fraction(mask))
    allowed = [t for t in CANDIDATES if np.mean(false_alarm[t]) <= max_false_alarm] or [CANDIDATES[-1]]
    best = max(allowed, key=lambda t: np.mean(f1[t]))
    return {"threshold": float(best), "synthetic_f1": float(np.mean(f1[best])),
            "synthetic_false_alarm": float(np.mean(false_alarm[best])), "samples": samples, "seed": seed,
            "fuse_sel": localizer.fuse_sel, "flip": localizer.flip}


def choose_thresholds(model: MultiViewCAMNet | CAMEnsemble, photos: list[Path], device: str = "cpu",
                      **options) -> dict[str, dict[str, float]]:
    """Thresholds for both readings of a checkpoint, stored as its ``thresholds`` metadata:
    ``sel`` for the map fused with the sel view (``mvcam``), ``network`` for the network alone."""
    return {
        key: choose_threshold(LearnedLocalizer(model, device, fuse_sel=fuse), photos, **options)
        for key, fuse in (("sel", True), ("network", False))
    }


def store_thresholds(checkpoint: Path, photos: list[Path], **options) -> dict[str, dict[str, float]]:
    """Choose both thresholds for a trained checkpoint and write them into its metadata."""
    from imlforensic.models.checkpoint import load_model, save_checkpoint

    model, metadata = load_model(checkpoint)
    metadata["thresholds"] = choose_thresholds(model, photos, **options)
    save_checkpoint(checkpoint, model, {k: v for k, v in metadata.items() if k not in ("format", "config", "members")})
    return metadata["thresholds"]
