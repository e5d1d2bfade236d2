"""Metric values checked against scikit-learn on small known cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score as sk_f1
from sklearn.metrics import roc_auc_score

from imlforensic.metrics import pixel
from imlforensic.metrics.summary import score_image, summarize


def test_f1_iou_and_false_alarm():
    gt = np.zeros((10, 10), bool)
    gt[:5] = True
    pred = np.zeros((10, 10), bool)
    pred[3:8] = True  # 20 TP, 30 FP, 30 FN
    assert pixel.f1_score(gt, pred) == pytest.approx(sk_f1(gt.ravel(), pred.ravel()))
    assert pixel.iou(gt, pred) == pytest.approx(20 / 80)
    assert pixel.false_alarm_fraction(pred) == pytest.approx(0.5)
    assert pixel.f1_score(np.zeros((3, 3), bool), np.zeros((3, 3), bool)) == 1.0


def test_auc_and_best_f1_on_quantised_maps():
    rng = np.random.default_rng(1)
    gt = rng.random((40, 40)) < 0.3
    heat = np.clip(gt * 0.3 + rng.random((40, 40)) * 0.7, 0, 1)
    levels = np.rint(heat * 255) / 255
    assert pixel.auc(gt, heat) == pytest.approx(roc_auc_score(gt.ravel(), levels.ravel()))
    best, threshold = pixel.best_f1(gt, heat)
    brute = max(sk_f1(gt.ravel(), (levels >= t).ravel(), zero_division=0) for t in np.unique(levels))
    assert best == pytest.approx(brute)
    assert pixel.f1_score(gt, levels >= threshold) == pytest.approx(best)
    assert np.isnan(pixel.auc(np.zeros((4, 4), bool), heat[:4, :4]))


def test_summary_conventions():
    gt = np.zeros((8, 8), bool)
    gt[:4] = True
    perfect = gt.astype(np.float32)
    records = [
        score_image("m1", "manipulated", 0.9, True, perfect, gt, gt, 0.1),
        score_image("m2", "manipulated", 0.4, False, np.zeros((8, 8)), np.zeros((8, 8), bool), gt, 0.1),
        score_image("a1", "authentic", 0.2, False, np.zeros((8, 8)), np.zeros((8, 8), bool), None, 0.3),
        score_image("a2", "authentic", 0.6, True, perfect, gt, None, 0.3),
    ]
    summary = summarize(records)
    assert summary.pixel_f1 == pytest.approx(0.5)  # mean over manipulated images
    assert summary.false_alarm == pytest.approx(0.25)  # mean flagged fraction over authentic ones
    assert summary.image_auc == pytest.approx(0.75)
    assert summary.balanced_accuracy == pytest.approx(0.5)
    assert summary.seconds_per_image == pytest.approx(0.2)
    only_manipulated = summarize(records[:2])
    assert only_manipulated.image_auc is None and only_manipulated.false_alarm is None
