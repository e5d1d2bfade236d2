"""Calibrate a trained localizer on synthetic samples, never on evaluation data.

A fixed, seeded set of synthetic samples (the training synthesizer's edits and untouched crops,
from authentic photos) is analysed by the localizer exactly as a user's image would be. Two
constants follow and are stored in the checkpoint's metadata:

* **background level** (``background``): the median, over the untouched samples, of each
  sample's median network logit - how suspicious the background of a typical authentic photo
  looks to the network. At inference a map whose own median lies above it is lowered by the
  difference (:class:`imlforensic.methods.mvcam.LearnedLocalizer`), because a map raised
  *everywhere* says something about the whole image (a global recompression, a texture the
  network finds odd), not where the edit is.
* **thresholds** (``thresholds``), one per reading of the checkpoint: ``sel`` for the map fused
  with the sel and copy-move views (``mvcam``; the key keeps its first name), ``network`` for the
  network alone (``mvcam-net``). Each is the one
  that maximises the mean pixel F1 of the edited samples (masks applied with the pipeline's own
  rule, imlforensic.maps.binarize, after the image-level decision) among the thresholds whose mean
  false-alarm fraction on the untouched samples stays at or below ``max_false_alarm``. Candidates
  start at 0.5: the map is a probability, and a pixel below 0.5 is by its own account more likely
  untouched than edited. (On synthetic edits, which the network localizes poorly, F1 only falls
  as the threshold rises, so lower candidates would always win there and flag every fifth
  authentic photo of the development set.)
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from imlforensic.maps import binarize, pool_score
from imlforensic.methods.mvcam import LearnedLocalizer
from imlforensic.metrics import pixel
from imlforensic.models.checkpoint import Localizer
from imlforensic.training.synth import EditSynthesizer, Sample
from imlforensic.views.copy_move import CopyMoveResult, find_copies

CANDIDATES = np.round(np.arange(0.5, 0.91, 0.05), 2)


def synthetic_samples(
    photos: list[Path], samples: int = 240, seed: int = 12345, size: tuple[int, int] = (256, 384)
) -> list[Sample]:
    """The fixed calibration set: about half edited, half untouched. The same arguments give the
    same samples, so the last set is kept for the next call (scripts/train_default.py calibrates
    each member and the ensemble on it)."""
    return list(_synthetic_samples(tuple(photos), samples, seed, tuple(size)))


@functools.lru_cache(maxsize=1)
def _synthetic_samples(photos: tuple[Path, ...], samples: int, seed: int, size: tuple[int, int]) -> tuple[Sample, ...]:
    synthesizer = EditSynthesizer(list(photos), size=size)
    rng = np.random.default_rng(seed)
    return tuple(synthesizer.sample(rng) for _ in range(samples))


def synthetic_copy_moves(
    photos: list[Path], samples: int = 240, seed: int = 12345, size: tuple[int, int] = (256, 384)
) -> list[CopyMoveResult]:
    """The copy-move view of each :func:`synthetic_samples` sample (it has no weights, so the
    last set's is kept too: the member and ensemble calibrations read the same views)."""
    return list(_synthetic_copy_moves(tuple(photos), samples, seed, tuple(size)))


@functools.lru_cache(maxsize=1)
def _synthetic_copy_moves(
    photos: tuple[Path, ...],
    samples: int,
    seed: int,
    size: tuple[int, int],
) -> tuple[CopyMoveResult, ...]:
    return tuple(find_copies(s.rgb) for s in _synthetic_samples(photos, samples, seed, size))


def background_level(logit_maps: list[np.ndarray], samples: list[Sample]) -> float:
    """Median over the untouched samples of their median network logit."""
    medians = [float(np.median(logits)) for logits, s in zip(logit_maps, samples) if not s.label]
    if not medians:
        raise ValueError("no untouched samples to measure the background level on")
    return float(np.median(medians))


def choose_threshold(
    heatmaps: list[np.ndarray], samples: list[Sample], max_false_alarm: float = 0.02
) -> dict[str, Any]:
    """Best mean F1 on the edited samples with at most ``max_false_alarm`` flagged on the untouched ones."""
    f1: dict[float, list[float]] = {t: [] for t in CANDIDATES}
    false_alarm: dict[float, list[float]] = {t: [] for t in CANDIDATES}
    for heatmap, sample in zip(heatmaps, samples):
        score = pool_score(heatmap)
        for t in CANDIDATES:
            mask = binarize(heatmap, float(t)) if score >= t else np.zeros(heatmap.shape, bool)
            if sample.label:
                f1[t].append(pixel.f1_score(sample.mask, mask))
            else:
                false_alarm[t].append(pixel.false_alarm_fraction(mask))
    allowed = [t for t in CANDIDATES if np.mean(false_alarm[t]) <= max_false_alarm] or [CANDIDATES[-1]]
    best = max(allowed, key=lambda t: np.mean(f1[t]))
    return {
        "threshold": float(best),
        "synthetic_f1": float(np.mean(f1[best])),
        "synthetic_false_alarm": float(np.mean(false_alarm[best])),
        "max_false_alarm": max_false_alarm,
    }


def calibrate(
    model: Localizer,
    photos: list[Path],
    device: str = "cpu",
    samples: int = 240,
    seed: int = 12345,
    size: tuple[int, int] = (256, 384),
) -> dict[str, Any]:
    """The ``background`` and ``thresholds`` metadata of a checkpoint (module docstring)."""
    model.eval()
    data = synthetic_samples(photos, samples, seed, size)
    copies = synthetic_copy_moves(photos, samples, seed, size)
    network = LearnedLocalizer(model, device)
    logit_maps = [network.logit_map(s.rgb, s.luma_table) for s in data]  # run once, read twice below
    background = background_level(logit_maps, data)
    thresholds = {}
    for key, fuse in (("sel", True), ("network", False)):
        reading = LearnedLocalizer(model, device, fuse_sel=fuse, background=background)
        heatmaps = [reading.read_logits(logits, s.rgb, c)[0] for logits, s, c in zip(logit_maps, data, copies)]
        thresholds[key] = choose_threshold(heatmaps, data)
    return {
        "background": {"logit": background, "samples": samples, "seed": seed},
        "thresholds": thresholds,
        "calibration": {"samples": samples, "seed": seed, "size": list(size)},
    }


def calibrate_checkpoint(checkpoint: Path, photos: list[Path], **options) -> dict[str, Any]:
    """Calibrate a trained checkpoint and write the result into its metadata."""
    from imlforensic.models.checkpoint import load_model, save_checkpoint

    model, metadata = load_model(checkpoint)
    metadata.update(calibrate(model, photos, **options))
    save_checkpoint(checkpoint, model, {k: v for k, v in metadata.items() if k not in ("format", "config", "members")})
    return metadata
