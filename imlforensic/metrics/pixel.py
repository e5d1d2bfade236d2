"""Pixel-level metrics for one image (IMDL-BenCo conventions).

All functions take a ground-truth mask (bool, H x W) and either a predicted binary mask or a
heatmap in [0, 1]. Heatmaps are quantised to 256 levels, as they are stored; AUC and the
best-threshold F1 are then exact for the stored map and cost one histogram instead of a sort.
"""

from __future__ import annotations

import numpy as np

LEVELS = 256


def _check(gt: np.ndarray, pred: np.ndarray) -> None:
    if gt.shape != pred.shape:
        raise ValueError(f"mask shape {gt.shape} differs from prediction shape {pred.shape}")


def confusion(gt: np.ndarray, pred_mask: np.ndarray) -> tuple[int, int, int, int]:
    """(TP, FP, FN, TN) pixel counts."""
    _check(gt, pred_mask)
    gt = gt.astype(bool)
    pred = pred_mask.astype(bool)
    tp = int(np.count_nonzero(gt & pred))
    fp = int(np.count_nonzero(~gt & pred))
    fn = int(np.count_nonzero(gt & ~pred))
    return tp, fp, fn, gt.size - tp - fp - fn


def f1_score(gt: np.ndarray, pred_mask: np.ndarray) -> float:
    """Pixel F1 of a binary prediction (1.0 when both are empty, since nothing was missed)."""
    tp, fp, fn, _ = confusion(gt, pred_mask)
    denominator = 2 * tp + fp + fn
    return 1.0 if denominator == 0 else 2.0 * tp / denominator


def iou(gt: np.ndarray, pred_mask: np.ndarray) -> float:
    """Intersection over union (1.0 when both are empty)."""
    tp, fp, fn, _ = confusion(gt, pred_mask)
    union = tp + fp + fn
    return 1.0 if union == 0 else tp / union


def false_alarm_fraction(pred_mask: np.ndarray) -> float:
    """Fraction of pixels flagged: on an authentic image every flagged pixel is a false alarm."""
    return float(np.count_nonzero(pred_mask)) / pred_mask.size


def _histograms(gt: np.ndarray, heatmap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    _check(gt, heatmap)
    levels = np.clip(np.rint(np.asarray(heatmap, dtype=np.float32) * (LEVELS - 1)), 0, LEVELS - 1).astype(np.int64)
    gt = gt.astype(bool)
    positives = np.bincount(levels[gt], minlength=LEVELS)
    negatives = np.bincount(levels[~gt], minlength=LEVELS)
    return positives, negatives


def auc(gt: np.ndarray, heatmap: np.ndarray) -> float:
    """Pixel ROC AUC of the heatmap (NaN when the mask is all one class)."""
    positives, negatives = _histograms(gt, heatmap)
    if positives.sum() == 0 or negatives.sum() == 0:
        return float("nan")
    scores = np.concatenate([np.arange(LEVELS), np.arange(LEVELS)])
    labels = np.concatenate([np.ones(LEVELS), np.zeros(LEVELS)])
    weights = np.concatenate([positives, negatives]).astype(np.float64)
    keep = weights > 0
    from sklearn.metrics import roc_auc_score  # here, not at import: scikit-learn takes 1.5 s to load

    return float(roc_auc_score(labels[keep], scores[keep], sample_weight=weights[keep]))


def best_f1(gt: np.ndarray, heatmap: np.ndarray) -> tuple[float, float]:
    """Best F1 over all thresholds of the heatmap, and the threshold that gives it."""
    positives, negatives = _histograms(gt, heatmap)
    # Predict positive for level >= t: counts are suffix sums over levels.
    tp = np.cumsum(positives[::-1])[::-1].astype(np.float64)
    fp = np.cumsum(negatives[::-1])[::-1].astype(np.float64)
    fn = positives.sum() - tp
    denominator = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(denominator > 0, 2 * tp / denominator, 1.0)
    best = int(np.argmax(f1))
    return float(f1[best]), best / (LEVELS - 1)
