"""Run an :class:`Analyzer` over a labelled dataset and summarise the metrics."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from imlforensic.data.datasets import Sample
from imlforensic.data.splits import load_split
from imlforensic.io.images import ImageLoadError, load_image
from imlforensic.metrics.summary import ImageRecord, Summary, score_image, summarize
from imlforensic.pipeline.analysis import Analysis, Analyzer


@dataclass
class Evaluation:
    dataset: str
    summary: Summary
    records: list[ImageRecord]
    failed: list[tuple[str, str]]


def score_analysis(sample: Sample, analysis: Analysis, seconds: float) -> ImageRecord:
    """The metrics' view of one analysed sample (its ground truth read at the map's size)."""
    return score_image(
        name=sample.name,
        label=sample.label,
        score=analysis.score if analysis.score is not None else 1.0,
        predicted_positive=analysis.verdict != "authentic",
        heatmap=analysis.heatmap,
        pred_mask=analysis.mask,
        gt_mask=sample.load_mask(analysis.mask.shape),
        seconds=seconds,
        verdict=analysis.verdict,
        class_probs=dict(analysis.output.class_probs),
    )


def evaluate_samples(
    samples: list[Sample],
    analyzer: Analyzer,
    dataset: str = "",
    show_progress: bool = True,
    on_image: Callable[[ImageRecord], None] | None = None,
) -> Evaluation:
    records: list[ImageRecord] = []
    failed: list[tuple[str, str]] = []
    enabled = show_progress and sys.stderr.isatty()
    for sample in tqdm(samples, desc=dataset or "evaluate", unit="img", disable=not enabled, file=sys.stderr):
        started = time.perf_counter()
        try:
            image = load_image(sample.image)
        except ImageLoadError as exc:
            failed.append((sample.name, str(exc)))
            continue
        analysis = analyzer.analyse(image)
        record = score_analysis(sample, analysis, time.perf_counter() - started)
        records.append(record)
        if on_image is not None:
            on_image(record)
    return Evaluation(dataset=dataset, summary=summarize(records), records=records, failed=failed)


def evaluate_dataset(spec: Path | str, analyzer: Analyzer, show_progress: bool = True) -> Evaluation:
    """Evaluate on a dataset folder, or on its fixed ``@train`` / ``@val`` part (see data.splits)."""
    spec = str(spec)
    return evaluate_samples(load_split(spec), analyzer, dataset=Path(spec).name, show_progress=show_progress)
