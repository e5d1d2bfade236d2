"""``imlforensic evaluate``: metrics of a method on labelled datasets."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from imlforensic.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Device,
    Quiet,
    RefinerOption,
    Threshold,
    Weights,
    check_device,
    fail,
    method_entries,
    refiner_entry,
)
from imlforensic.data.datasets import DatasetError
from imlforensic.io.messages import one_line
from imlforensic.metrics.summary import METRIC_LABELS, Summary
from imlforensic.pipeline.analysis import Analyzer
from imlforensic.pipeline.evaluation import evaluate_dataset
from imlforensic.registry import DEFAULT_METHOD, WeightsError


def format_table(rows: list[tuple[str, Summary]]) -> str:
    """A fixed-width table: one row per dataset, one column per metric ('-' = not defined)."""
    headers = ["dataset", "images"] + list(METRIC_LABELS.values())
    body = []
    for name, summary in rows:
        values = summary.as_dict()
        cells = [name, str(summary.images)]
        for key in METRIC_LABELS:
            value = values[key]
            cells.append("-" if value is None else f"{value:.3f}")
        body.append(cells)
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in body]
    return "\n".join(lines)


def format_three_class(name: str, metrics: dict) -> str:
    """The confusion matrix (rows the truth, columns the verdict) and one-vs-rest AUCs of a dataset
    with generated pictures."""
    classes = metrics["classes"]
    width = max(len(c) for c in classes) + 2
    lines = [f"{name}: three classes, balanced accuracy {_fmt(metrics['balanced_accuracy'])}"]
    lines.append(
        "  truth \\ verdict".ljust(width + 2) + "".join(c.rjust(width) for c in classes) + "   AUC (one vs rest)"
    )
    for c, row in zip(classes, metrics["confusion"]):
        auc = _fmt(metrics["one_vs_rest_auc"][c])
        lines.append(f"  {c}".ljust(width + 2) + "".join(str(v).rjust(width) for v in row) + f"   {auc}")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def evaluate(
    datasets: Annotated[
        list[str],
        typer.Argument(
            help="Dataset folders (labels.csv, Tp/ + Au/, or authentic/ + manipulated/); FOLDER@val or FOLDER@train for a fixed half.",
            show_default=False,
        ),
    ],
    method: Annotated[str, typer.Option("--method", "-m", help="Detection method.")] = DEFAULT_METHOD,
    refiner: RefinerOption = None,
    threshold: Threshold = None,
    device: Device = "auto",
    json_out: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    quiet: Quiet = False,
    weights: Weights = None,
) -> None:
    """Measure a method on labelled datasets: pixel F1, IoU, best F1, pixel AUC, false alarms, image AUC.

    Pixel metrics are averaged over manipulated images with masks; the false-alarm figure is the mean flagged fraction of authentic images.

    [bold]Example[/bold]

      imlforensic evaluate data/casia1@val data/casia2 --method classical

      imlforensic evaluate data/casia1@val --weights runs/mine/last.safetensors
    """
    check_device(device)
    (entry,) = method_entries([method], weights)
    try:  # load now: a bad checkpoint is one error, not one per image
        analyzer = Analyzer(entry, device=device, threshold=threshold, refiner=refiner_entry(refiner, None)).load()
    except (WeightsError, ImportError, ValueError, RuntimeError, TypeError) as exc:
        fail(f"cannot load {method!r}: {one_line(exc)}")
    results = []
    failed = False
    for root in datasets:
        try:
            evaluation = evaluate_dataset(root, analyzer, show_progress=not quiet)
        except DatasetError as exc:
            typer.echo(f"error: {exc}", err=True)
            failed = True
            continue
        for _name, message in evaluation.failed:
            typer.echo(f"error: {message}", err=True)
        failed = failed or bool(evaluation.failed)
        results.append((root, evaluation.summary))
    if json_out:
        payload = {
            "method": method,
            "weights": str(weights) if weights is not None else None,
            "refiner": refiner,
            "threshold": analyzer.threshold,
            "datasets": {name: summary.as_dict() for name, summary in results},
        }
        typer.echo(json.dumps(payload, indent=2))
    elif results:
        typer.echo(
            f"method {method}"
            + (f" (weights {weights})" if weights is not None else "")
            + (f" + refiner {refiner}" if refiner else "")
            + f", threshold {analyzer.threshold}"
        )
        typer.echo(format_table(results))
        for name, summary in results:
            if summary.three_class is not None:
                typer.echo(format_three_class(name, summary.three_class))
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)
