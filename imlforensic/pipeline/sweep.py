"""Robustness sweeps: each metric of a method as a perturbation grows (``evaluate --perturb``).

Every sample is decoded once; the clean picture and each perturbed copy
(:mod:`imlforensic.data.perturbations`) go through :meth:`Analyzer.analyse`, the one per-image
path, and are scored against the ground truth of that copy (resized with it when the geometry
changes) by :func:`imlforensic.pipeline.evaluation.score_analysis`. The result holds one
:class:`~imlforensic.metrics.summary.Summary` per condition: ``none`` (the clean pictures, the
same figures as a plain ``evaluate``) and each ``kind:strength``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from imlforensic.data.datasets import Sample
from imlforensic.data.perturbations import Perturbation
from imlforensic.data.splits import load_split
from imlforensic.io.images import ImageLoadError, load_image
from imlforensic.metrics.summary import ImageRecord, Summary, score_image, summarize
from imlforensic.pipeline.analysis import Analyzer

CLEAN = "none"


@dataclass
class SweepResult:
    """One method on one dataset under every condition (``none`` first)."""

    dataset: str
    method: str
    threshold: float
    conditions: list[str]
    perturbations: dict[str, Perturbation]  # condition label -> perturbation (not for ``none``)
    records: dict[str, list[ImageRecord]] = field(default_factory=dict)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def summaries(self) -> dict[str, Summary]:
        return {condition: summarize(self.records.get(condition, [])) for condition in self.conditions}

    def to_json(self) -> dict[str, Any]:
        summaries = self.summaries()
        rows = []
        for condition in self.conditions:
            perturbation = self.perturbations.get(condition)
            rows.append(
                {
                    "condition": condition,
                    "kind": perturbation.kind if perturbation else CLEAN,
                    "strength": perturbation.strength if perturbation else None,
                    **summaries[condition].as_dict(),
                }
            )
        return {"dataset": self.dataset, "method": self.method, "threshold": self.threshold, "conditions": rows}


def sweep_samples(
    samples: list[Sample],
    analyzer: Analyzer,
    perturbations: list[Perturbation],
    dataset: str = "",
    show_progress: bool = True,
    on_image: Callable[[str, ImageRecord], None] | None = None,
) -> SweepResult:
    """Analyse every sample clean and under every perturbation (see the module docstring)."""
    labels = {p.label: p for p in perturbations}
    result = SweepResult(
        dataset=dataset,
        method=analyzer.method_name or "?",
        threshold=analyzer.threshold,
        conditions=[CLEAN, *labels],
        perturbations=labels,
        records={condition: [] for condition in [CLEAN, *labels]},
    )
    enabled = show_progress and sys.stderr.isatty()
    for sample in tqdm(samples, desc=dataset or "sweep", unit="img", disable=not enabled, file=sys.stderr):
        try:
            original = load_image(sample.image)
        except ImageLoadError as exc:
            result.failed.append((sample.name, str(exc)))
            continue
        gt = sample.load_mask(original.rgb.shape[:2])
        for condition in result.conditions:
            started = time.perf_counter()
            perturbation = labels.get(condition)
            try:
                image = perturbation.apply(original) if perturbation else original
            except ImageLoadError as exc:
                result.failed.append((sample.name, f"{condition}: {exc}"))
                continue
            analysis = analyzer.analyse(image)
            mask = perturbation.apply_mask(gt) if perturbation else gt
            record = score_image(
                name=sample.name,
                label=sample.label,
                score=analysis.score if analysis.score is not None else 1.0,
                predicted_positive=analysis.verdict != "authentic",
                heatmap=analysis.heatmap,
                pred_mask=analysis.mask,
                gt_mask=mask,
                seconds=time.perf_counter() - started,
            )
            result.records[condition].append(record)
            if on_image is not None:
                on_image(condition, record)
    return result


def sweep_dataset(
    spec: Path | str, analyzer: Analyzer, perturbations: list[Perturbation], show_progress: bool = True
) -> SweepResult:
    """:func:`sweep_samples` on a dataset folder or its ``@train`` / ``@val`` part."""
    spec = str(spec)
    return sweep_samples(
        load_split(spec), analyzer, perturbations, dataset=Path(spec).name, show_progress=show_progress
    )
