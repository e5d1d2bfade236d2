"""Markdown tables of ``WORK/results/protocols.jsonl`` (``python benchmarks/threeway_tables.py WORK``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.0f} %"


def num(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def main(work: Path) -> None:
    rows = [json.loads(line) for line in (work / "results" / "protocols.jsonl").read_text().splitlines()]
    latest = {(r["protocol"], r["variant"]): r for r in rows}
    print(
        "| protocol | variant | unseen AUC vs real photos | vs all held-out | unseen called | "
        "real photos called | CASIA called | val balanced acc. | test balanced acc. (classifier alone) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for (protocol, variant), r in latest.items():
        print(
            f"| {protocol} | {variant} | {num(r['unseen_auc_vs_real_photos'])} | {num(r['unseen_auc_vs_all_heldout'])} | "
            f"{pct(r['unseen_called'])} | {pct(r['real_photos_called'])} | {pct(r['casia_called'])} | "
            f"{num(r['balanced_accuracy_val'])} | {num(r['balanced_accuracy_test'])} |"
        )
    for (protocol, variant), r in latest.items():
        print(
            f"\n**{protocol} / {variant}** (threshold {r['threshold']:.4f}; train rows {r['train_rows']} "
            f"{r['train_by_class']}, val rows {r['val_rows']}, {r['cpu_seconds']:.0f} CPU-s)\n"
        )
        print("| test set | n | called generated | AUC vs real photos |")
        print("|---|---|---|---|")
        for name, called in r["called"].items():
            auc = r["per_set_auc_vs_real_photos"].get(name)
            print(f"| {name} | {r['test_sizes'][name]} | {pct(called)} | {num(auc)} |")
        acc = ", ".join(f"{k} {pct(v)}" for k, v in r["per_class_accuracy_val"].items())
        test = ", ".join(f"{k} {pct(v)}" for k, v in r["per_class_accuracy_test"].items())
        print(
            f"\nper-class accuracy, validation (training side): {acc}; test: {test}; "
            f"test confusion (rows authentic, manipulated, generated): {r['confusion_test']}"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
