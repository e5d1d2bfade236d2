"""Dataset-level metrics from per-image records.

Conventions (as IMDL-BenCo and most of the literature): pixel metrics are computed per
manipulated image and averaged over manipulated images; the false-alarm fraction is the mean
flagged fraction over authentic images; image-level AUC uses the image scores, balanced
accuracy the verdicts. A metric that a dataset cannot support (no authentic images, one
class only) is reported as ``None``, never as a number.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from imlforensic.metrics import pixel


@dataclass
class ImageRecord:
    """Everything the summary needs about one evaluated image."""

    name: str
    label: str  # authentic | manipulated | generated
    score: float
    predicted_positive: bool  # verdict is not "authentic"
    seconds: float
    f1: float | None = None  # manipulated images with a mask
    iou: float | None = None
    best_f1: float | None = None
    auc: float | None = None
    flagged_fraction: float = 0.0
    verdict: str = ""  # authentic | manipulated | generated ("" when not recorded)
    class_probs: dict[str, float] | None = None  # the method's, over authentic / manipulated / generated


def score_image(
    name: str,
    label: str,
    score: float,
    predicted_positive: bool,
    heatmap: np.ndarray,
    pred_mask: np.ndarray,
    gt_mask: np.ndarray | None,
    seconds: float,
    verdict: str = "",
    class_probs: dict[str, float] | None = None,
) -> ImageRecord:
    record = ImageRecord(
        name=name,
        label=label,
        score=score,
        predicted_positive=predicted_positive,
        seconds=seconds,
        flagged_fraction=pixel.false_alarm_fraction(pred_mask),
        verdict=verdict,
        class_probs=class_probs,
    )
    if label == "manipulated" and gt_mask is not None and gt_mask.any():
        record.f1 = pixel.f1_score(gt_mask, pred_mask)
        record.iou = pixel.iou(gt_mask, pred_mask)
        record.best_f1 = pixel.best_f1(gt_mask, heatmap)[0]
        value = pixel.auc(gt_mask, heatmap)
        record.auc = None if math.isnan(value) else value
    return record


@dataclass
class Summary:
    images: int
    manipulated: int
    authentic: int
    pixel_f1: float | None
    pixel_iou: float | None
    pixel_best_f1: float | None
    pixel_auc: float | None
    false_alarm: float | None  # mean flagged fraction on authentic images
    image_auc: float | None
    balanced_accuracy: float | None
    seconds_per_image: float
    three_class: dict | None = None  # datasets with generated pictures: see :func:`three_class_metrics`

    def as_dict(self) -> dict:
        return asdict(self)


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def summarize(records: list[ImageRecord]) -> Summary:
    manipulated = [r for r in records if r.label == "manipulated"]
    authentic = [r for r in records if r.label == "authentic"]
    binary = [r for r in records if r.label in ("manipulated", "authentic")]
    labels = [int(r.label == "manipulated") for r in binary]
    two_classes = 0 < sum(labels) < len(labels)
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score  # not at import: 1.5 s to load

    return Summary(
        images=len(records),
        manipulated=len(manipulated),
        authentic=len(authentic),
        pixel_f1=_mean([r.f1 for r in manipulated]),
        pixel_iou=_mean([r.iou for r in manipulated]),
        pixel_best_f1=_mean([r.best_f1 for r in manipulated]),
        pixel_auc=_mean([r.auc for r in manipulated]),
        false_alarm=_mean([r.flagged_fraction for r in authentic]),
        image_auc=float(roc_auc_score(labels, [r.score for r in binary])) if two_classes else None,
        balanced_accuracy=(
            float(balanced_accuracy_score(labels, [int(r.predicted_positive) for r in binary])) if two_classes else None
        ),
        seconds_per_image=float(np.mean([r.seconds for r in records])) if records else 0.0,
        three_class=three_class_metrics(records),
    )


CLASSES = ("authentic", "manipulated", "generated")


def three_class_metrics(records: list[ImageRecord]) -> dict | None:
    """For a dataset with ``generated`` pictures: the confusion matrix of the verdicts (rows the
    truth, columns the verdict, in :data:`CLASSES` order), their balanced accuracy over the classes
    present, and each class's one-vs-rest AUC from the class probabilities (``None`` where the
    class is absent or every picture has it). ``None`` for datasets without generated pictures."""
    if not any(r.label == "generated" for r in records):
        return None
    from sklearn.metrics import roc_auc_score

    known = [r for r in records if r.label in CLASSES and r.verdict in CLASSES]
    confusion = [[sum(r.label == a and r.verdict == b for r in known) for b in CLASSES] for a in CLASSES]
    recalls = [row[i] / sum(row) for i, row in enumerate(confusion) if sum(row)]
    auc: dict[str, float | None] = {}
    scored = [r for r in records if r.class_probs]
    for name in CLASSES:
        truth = [int(r.label == name) for r in scored]
        auc[name] = (
            float(roc_auc_score(truth, [r.class_probs[name] for r in scored if r.class_probs]))
            if 0 < sum(truth) < len(truth)
            else None
        )
    return {
        "classes": list(CLASSES),
        "confusion": confusion,
        "balanced_accuracy": float(np.mean(recalls)) if recalls else None,
        "one_vs_rest_auc": auc,
    }


METRIC_LABELS = {
    "pixel_f1": "pixel F1",
    "pixel_iou": "IoU",
    "pixel_best_f1": "best F1",
    "pixel_auc": "pixel AUC",
    "false_alarm": "false alarm",
    "image_auc": "image AUC",
    "balanced_accuracy": "bal. acc.",
    "seconds_per_image": "s/image",
}
