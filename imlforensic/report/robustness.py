"""The plot of a robustness sweep: each metric against each perturbation's strength.

One figure per dataset, saved as PNG (200 dpi) and PDF: a row per metric, a column per kind of
perturbation, one line per method (its clean figure as a dotted line of the same colour). The
x axis runs from weak to strong (JPEG and WebP quality and the resize factor fall to the
right). Lines differ in marker and dash as well as colour, so the plot reads in grey.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imlforensic.io.atomic import atomic_path

PLOT_METRICS = ("pixel_f1", "pixel_auc", "image_auc", "false_alarm")
_STYLES = [("o", "-"), ("s", "--"), ("^", "-."), ("D", ":"), ("v", "-"), ("P", "--")]


def plot_paths(base: Path, dataset: str, several: bool) -> tuple[Path, Path]:
    """``BASE.png`` and ``BASE.pdf`` (``BASE-DATASET.*`` when several datasets were swept)."""
    stem = base.with_suffix("") if base.suffix.lower() in (".png", ".pdf") else base
    if several:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in dataset)
        stem = stem.with_name(f"{stem.name}-{safe}")
    return stem.with_suffix(".png"), stem.with_suffix(".pdf")


def plot_sweep(runs: list[dict[str, Any]], dataset: str, png: Path, pdf: Path) -> None:
    """Draw the runs (``SweepResult.to_json()`` of each method) of one dataset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from imlforensic.data.perturbations import STRENGTH_LABELS, WEAKER_WHEN_LARGER
    from imlforensic.metrics.summary import METRIC_LABELS

    kinds: list[str] = []
    for run in runs:
        for row in run["conditions"]:
            if row["kind"] != "none" and row["kind"] not in kinds:
                kinds.append(row["kind"])
    metrics = [m for m in PLOT_METRICS if any(row.get(m) is not None for run in runs for row in run["conditions"])]
    if not kinds or not metrics:
        raise ValueError("nothing to plot: no perturbed condition has a defined metric")
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]  # tab10
    fig, axes = plt.subplots(
        len(metrics), len(kinds), figsize=(3.0 * len(kinds) + 0.6, 2.3 * len(metrics) + 0.8), squeeze=False
    )
    for col, kind in enumerate(kinds):
        for row_index, metric in enumerate(metrics):
            ax = axes[row_index][col]
            for index, run in enumerate(runs):
                marker, dash = _STYLES[index % len(_STYLES)]
                colour = colours[index % len(colours)]
                points = sorted(
                    (row["strength"], row[metric])
                    for row in run["conditions"]
                    if row["kind"] == kind and row.get(metric) is not None
                )
                clean = next((row[metric] for row in run["conditions"] if row["kind"] == "none"), None)
                if clean is not None:
                    ax.axhline(clean, color=colour, linestyle=":", linewidth=0.9, alpha=0.8)
                if points:
                    xs, ys = zip(*points)
                    ax.plot(xs, ys, marker=marker, linestyle=dash, color=colour, label=run["method"], markersize=4)
            if metric != "false_alarm":  # the other metrics are in [0, 1]: one scale for every panel
                ax.set_ylim(-0.02, 1.02)
            else:
                ax.set_ylim(bottom=0.0)
            if kind in WEAKER_WHEN_LARGER and not ax.xaxis_inverted():
                ax.invert_xaxis()
            ax.grid(True, linewidth=0.4, alpha=0.5)
            ax.tick_params(labelsize=7)
            if row_index == len(metrics) - 1:
                ax.set_xlabel(STRENGTH_LABELS.get(kind, kind), fontsize=8)
            if col == 0:
                ax.set_ylabel(METRIC_LABELS.get(metric, metric), fontsize=8)
            if row_index == 0:
                ax.set_title(kind, fontsize=9)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=max(1, len(labels)), fontsize=8, frameon=False)
    fig.suptitle(f"{dataset}: metrics under perturbation (dotted: clean pictures)", fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    for path, fmt in ((png, "png"), (pdf, "pdf")):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=200)
    plt.close(fig)
