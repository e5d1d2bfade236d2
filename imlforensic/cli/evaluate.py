"""``imlforensic evaluate``: metrics of a method on labelled datasets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, NoReturn

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
    usage_error,
)
from imlforensic.data.datasets import DatasetError
from imlforensic.data.perturbations import PerturbationError, parse_perturbations
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
    method: Annotated[
        list[str] | None,
        typer.Option(
            "--method",
            "-m",
            show_default=False,
            help=f"Detection method \\[default: {DEFAULT_METHOD}]. Repeat it to compare several (one table, and one line of the --plot, per method).",
        ),
    ] = None,
    refiner: RefinerOption = None,
    threshold: Threshold = None,
    device: Device = "auto",
    json_out: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    quiet: Quiet = False,
    weights: Weights = None,
    perturb: Annotated[
        list[str] | None,
        typer.Option(
            "--perturb",
            help="Also analyse every image after a perturbation at each strength: jpeg:QUALITIES, webp:QUALITIES, resize:FACTORS, blur:SIGMAS, noise:SIGMAS (e.g. jpeg:95,85,75). Repeatable.",
            show_default=False,
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="With --perturb: write the metrics against each strength as FILE.png and FILE.pdf.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Measure a method on labelled datasets: pixel F1, IoU, best F1, pixel AUC, false alarms, image AUC.

    Pixel metrics are averaged over manipulated images with masks; the false-alarm figure is the mean flagged fraction of authentic images.

    With --perturb, every image is also analysed after each perturbation (re-encoded as a file, its mask resized with it) and the metrics are given per strength; condition "none" is the clean pictures.

    [bold]Example[/bold]

      imlforensic evaluate data/casia1@val data/casia2 --method classical

      imlforensic evaluate data/casia1@val --weights runs/mine/last.safetensors

      imlforensic evaluate data/casia1@val -m mvcam -m classical --perturb jpeg:95,75,50 --perturb resize:0.5 --plot robustness
    """
    check_device(device)
    names = list(method or [DEFAULT_METHOD])
    entries = method_entries(names, weights)
    try:
        perturbations = parse_perturbations(perturb or [])
    except PerturbationError as exc:
        usage_error(str(exc))
    if plot is not None and not perturbations:
        usage_error("--plot goes with --perturb")
    analyzers = []
    for name, entry in zip(names, entries):
        try:  # load now: a bad checkpoint is one error, not one per image
            analyzers.append(
                Analyzer(entry, device=device, threshold=threshold, refiner=refiner_entry(refiner, None)).load()
            )
        except (WeightsError, ImportError, ValueError, RuntimeError, TypeError) as exc:
            fail(f"cannot load {name!r}: {one_line(exc)}")
    if perturbations:
        _sweep(datasets, names, analyzers, perturbations, json_out, quiet, plot)
    failed = False
    payloads = []
    for name, analyzer in zip(names, analyzers):
        results = []
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
        payloads.append(
            {
                "method": name,
                "weights": str(weights) if weights is not None else None,
                "refiner": refiner,
                "threshold": analyzer.threshold,
                "datasets": {root: summary.as_dict() for root, summary in results},
            }
        )
        if not json_out and results:
            if len(payloads) > 1:
                typer.echo("")
            typer.echo(
                f"method {name}"
                + (f" (weights {weights})" if weights is not None else "")
                + (f" + refiner {refiner}" if refiner else "")
                + f", threshold {analyzer.threshold}"
            )
            typer.echo(format_table(results))
            for root, summary in results:
                if summary.three_class is not None:
                    typer.echo(format_three_class(root, summary.three_class))
    if json_out:  # one method: its record as before; several: {"runs": [one per method]}
        typer.echo(json.dumps(payloads[0] if len(payloads) == 1 else {"runs": payloads}, indent=2))
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)


def format_sweep_table(run: dict) -> str:
    """One row per condition (``none`` = the clean pictures), one column per metric."""
    headers = ["condition", "images"] + list(METRIC_LABELS.values())
    body = []
    for row in run["conditions"]:
        cells = [row["condition"], str(row["images"])]
        cells += ["-" if row[key] is None else f"{row[key]:.3f}" for key in METRIC_LABELS]
        body.append(cells)
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in body]
    return "\n".join(lines)


def _sweep(
    datasets: list[str],
    names: list[str],
    analyzers: list[Analyzer],
    perturbations: list,
    json_out: bool,
    quiet: bool,
    plot: Path | None,
) -> NoReturn:
    """``--perturb``: the sweep's tables (or JSON) and plot, then exit."""
    from imlforensic.pipeline.sweep import sweep_dataset

    failed = False
    runs: list[dict] = []
    for root in datasets:
        for name, analyzer in zip(names, analyzers):
            try:
                result = sweep_dataset(root, analyzer, perturbations, show_progress=not quiet)
            except DatasetError as exc:
                typer.echo(f"error: {exc}", err=True)
                failed = True
                break
            for _name, message in result.failed:
                typer.echo(f"error: {message}", err=True)
            failed = failed or bool(result.failed)
            run = result.to_json() | {"dataset": root, "method": name}
            runs.append(run)
            if not json_out:
                typer.echo(f"{'' if len(runs) == 1 else chr(10)}{root}: method {name}, threshold {analyzer.threshold}")
                typer.echo(format_sweep_table(run))
    written: list[str] = []
    if plot is not None and runs:
        from imlforensic.report.robustness import plot_paths, plot_sweep

        swept = list(dict.fromkeys(run["dataset"] for run in runs))
        for root in swept:
            png, pdf = plot_paths(plot, root, several=len(swept) > 1)
            try:
                plot_sweep([run for run in runs if run["dataset"] == root], root, png, pdf)
            except OSError as exc:
                fail(f"cannot write the plot {png}: {exc.strerror or exc}")
            written += [str(png), str(pdf)]
    if json_out:
        payload = {"perturbations": [p.label for p in perturbations], "runs": runs, "plots": written}
        typer.echo(json.dumps(payload, indent=2))
    elif written:
        typer.echo("plot: " + ", ".join(written), err=True)
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)
