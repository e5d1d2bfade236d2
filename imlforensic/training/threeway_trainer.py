"""``imlforensic train --network threeway``: the three-way classifier trained from labelled folders.

One run, in the order of the work it does (the networks and losses are in
:mod:`imlforensic.models.threeway`, the stages in :mod:`imlforensic.training.threeway`):

1. **Pool.** Every picture of the labelled folders (``labels.csv`` saying ``authentic``,
   ``manipulated`` or ``generated``; ``FOLDER@train`` for a fixed half), plus, with
   ``--synthesize-from``, ``preset.synthetic`` partially edited pictures made from those photos
   (:func:`imlforensic.training.threeway_data.synthetic_items`: regions of the folders' generated
   pictures, and of ``--generated-donors``, blended into photos; OpenCV inpainting; splices,
   copy-moves, retouches, double JPEG).
2. **Split.** Each picture's group (a prompt, a sheet, the picture itself) goes to validation with
   probability :data:`~imlforensic.training.threeway.VAL_SHARE` (sha1 of its name), so near
   duplicates of one prompt never straddle the split.
3. **Features.** Every picture goes through the same random resize / crop / re-encoding chain
   (:mod:`imlforensic.training.chain`) ``draws`` times and the frozen extractor reads one window of
   each draw. A folder with few pictures gets more draws (``ceil(views_per_source / n)``, at most
   ``max_draws``), so a dozen camera originals are not drowned by a thousand web pictures. The
   validation pictures that are files, and the ``--val`` folders, are also read as the method reads
   a file (two native-resolution windows). All of it is cached in ``OUT/cache``: ``--resume``
   continues an interrupted extraction, the expensive part (mixed precision on a GPU).
4. **Training** of teacher, students and generalizers, and ``N_C``, on the training rows (seconds
   to minutes on a CPU: the networks read cached features).
5. **Calibration** on the validation rows only: the generated threshold that calls at most
   :data:`~imlforensic.training.threeway.TARGET_RATE` of the validation pictures that are not
   generated generated, and the decision head (``N_C`` or ``N_T``) with the better validation
   balanced accuracy (:func:`~imlforensic.training.threeway.choose_head`).
6. ``OUT/last.safetensors`` (runs with ``--method threeway --weights OUT/last.safetensors``),
   ``OUT/log.jsonl`` (one line per epoch and stage) and ``OUT/summary.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shutil
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from imlforensic.models.checkpoint import git_commit
from imlforensic.models.features import build_extractor, sha256_of
from imlforensic.models.threeway import CLASSES, ThreewayConfig, save_threeway
from imlforensic.training.chain import CHAIN_VERSION, INFERENCE_VIEWS
from imlforensic.training.threeway import (
    TARGET_RATE,
    VAL_SHARE,
    ThreewayTraining,
    choose_head,
    in_val,
    predict,
    train_threeway,
    validation_accuracy,
)
from imlforensic.training.threeway_data import (
    LABELS,
    FeatureCache,
    PoolItem,
    dataset_items,
    extract_inference,
    extract_training,
    synthetic_items,
    view_key,
)
from imlforensic.training.trainer import list_photos


@dataclass(frozen=True)
class ThreewayPreset:
    training: ThreewayTraining = field(default_factory=ThreewayTraining)
    synthetic: int = 450  # partially edited pictures made with --synthesize-from
    views_per_source: int = 64  # a folder with fewer pictures gets more chain draws ...
    max_draws: int = 8  # ... up to this many


THREEWAY_PRESETS: dict[str, ThreewayPreset] = {
    # The benchmark's recipe (docs/BENCHMARKS.md, "Three-way classifier"): feature extraction is
    # about 70 ms per view on two idle cores, the networks take about a minute.
    "cpu": ThreewayPreset(),
    # More synthetic edits, draws and epochs: the extraction is what a GPU speeds up.
    "gpu": ThreewayPreset(
        ThreewayTraining(teacher_epochs=30, student_epochs=30, classifier_epochs=20),
        synthetic=2000,
        views_per_source=256,
        max_draws=16,
    ),
    # A smoke test: a few pictures, one or two epochs per stage.
    "tiny": ThreewayPreset(
        ThreewayTraining(teacher_epochs=3, student_epochs=1, classifier_epochs=2, batch_size=24, feature_noise=0.1),
        synthetic=6,
        views_per_source=4,
        max_draws=2,
    ),
}


def draws_per_source(items: list[PoolItem], preset: ThreewayPreset) -> dict[str, int]:
    """Chain draws per source folder (see the module docstring)."""
    sizes = Counter(item.source for item in items)
    return {s: min(preset.max_draws, max(1, math.ceil(preset.views_per_source / n))) for s, n in sizes.items()}


def build_pool(
    datasets: list[str], photo_folders: list[Path], donor_folders: list[Path], preset: ThreewayPreset, seed: int
) -> list[PoolItem]:
    """The labelled pictures and the synthetic edits (see the module docstring)."""
    items = [item for spec in datasets for item in dataset_items(spec)]
    unknown = sorted({item.label for item in items} - set(LABELS))
    if unknown:
        raise ValueError(f"labels {', '.join(unknown)} are not one of {', '.join(LABELS)}")
    photos = list_photos(photo_folders)
    if photo_folders and not photos:
        raise ValueError("--synthesize-from: no photos in " + ", ".join(map(str, photo_folders)))
    if photos and preset.synthetic:
        donors = [item for item in items if item.label == "generated"]
        donors += [PoolItem(f"donor:{p}", "generated", "donor", str(p), str(p)) for p in list_photos(donor_folders)]
        items += synthetic_items(photos, donors, preset.synthetic, seed=seed)
    present = {item.label for item in items}
    missing = [label for label in LABELS if label not in present]
    if missing:
        raise ValueError(
            f"the training pictures have no {' and no '.join(missing)} pictures: the classifier needs all three "
            "classes (labels.csv saying authentic, manipulated, generated; --synthesize-from makes edits)"
        )
    return items


def _pool_digest(items: list[PoolItem], val_items: list[PoolItem], extractor: str) -> str:
    """What the cache of a run stands for: ``--resume`` refuses a cache made for another pool."""
    text = json.dumps(
        [extractor, CHAIN_VERSION]
        + [[i.key, i.label, i.path, sorted(i.meta.items())] for i in items]
        + [["val", i.path] for i in val_items],
    )
    return hashlib.sha256(text.encode()).hexdigest()


def train_threeway_folders(
    datasets: list[str],
    photo_folders: list[Path],
    donor_folders: list[Path],
    val_datasets: list[str],
    out_dir: Path,
    preset: ThreewayPreset,
    seed: int = 0,
    extractor_name: str = "lite0",
    extractor_weights: Path | None = None,
    device: str = "cpu",
    resume: bool = False,
    show_progress: bool = True,
    say: Callable[[str], None] = print,
) -> Path:
    """One training run (see the module docstring); returns ``OUT/last.safetensors``."""
    training = dataclasses.replace(preset.training, seed=seed)
    torch.manual_seed(seed)
    items = build_pool(datasets, photo_folders, donor_folders, preset, seed)
    val_files = [item for spec in val_datasets for item in dataset_items(spec)]
    extractor = build_extractor(extractor_name, extractor_weights, device)
    out_dir.mkdir(parents=True, exist_ok=True)
    cache_root, pool_file = out_dir / "cache", out_dir / "pool.sha256"
    digest = _pool_digest(items, val_files, extractor.spec.cache_id)
    if resume and pool_file.is_file() and pool_file.read_text().strip() != digest:
        raise ValueError(f"{out_dir}: its cache was made for other pictures or settings; train without --resume")
    if not resume and cache_root.exists():
        shutil.rmtree(cache_root)
    pool_file.write_text(digest + "\n")

    draws = draws_per_source(items, preset)
    val_mask = np.array([in_val(item.group) for item in items])
    train_items = [i for i, v in zip(items, val_mask) if not v]
    held_items = [i for i, v in zip(items, val_mask) if v]
    if not train_items:
        raise ValueError("every picture went to validation: give more pictures")
    cache = FeatureCache(cache_root, extractor)
    try:
        failed = extract_training(items, draws, cache, show_progress=show_progress)
        calibration_files = [i for i in held_items if i.source != "synthetic"] + val_files
        file_keys = extract_inference(
            [i.path for i in calibration_files], cache, INFERENCE_VIEWS, show_progress, failed=failed
        )
        calibration_files = [i for i in calibration_files if i.path in file_keys]

        def chain_rows(part: list[PoolItem]) -> tuple[np.ndarray, np.ndarray]:
            """The cached chain views of ``part`` (a picture that failed has none) and their labels."""
            views = [(view_key(i, d), CLASSES.index(i.label)) for i in part for d in range(draws[i.source])]
            views = [(key, label) for key, label in views if key in cache]
            return cache.rows([key for key, _ in views]), np.array([label for _, label in views], dtype=np.int64)

        x_train, y_train = chain_rows(train_items)
        x_views, y_views = chain_rows(held_items)
        file_rows = cache.rows([f"{file_keys[i.path]}/{v}" for i in calibration_files for v in range(INFERENCE_VIEWS)])
        x_files = file_rows.reshape(len(calibration_files), INFERENCE_VIEWS, cache.dim).mean(1)
        y_files = np.array([CLASSES.index(i.label) for i in calibration_files], dtype=np.int64)
        layout = tuple((str(name), int(width)) for name, width in extractor.layout)
    finally:
        cache.close()
    x_val, y_val = np.concatenate([x_views, x_files]), np.concatenate([y_views, y_files])
    missing = [c for i, c in enumerate(CLASSES) if not (y_train == i).any()]
    if missing:
        raise ValueError(f"no {' and no '.join(missing)} pictures left for training after the validation split")
    if not (y_val != CLASSES.index("generated")).any():
        raise ValueError("no validation pictures that are not generated: give --val folders or more pictures")

    epochs = training.teacher_epochs
    if training.students:
        epochs += training.student_epochs + training.classifier_epochs
    bar = tqdm(total=epochs, desc="training", unit="epoch", disable=not show_progress, file=sys.stderr)
    log_path = out_dir / "log.jsonl"
    with open(log_path, "w", encoding="utf-8") as log:

        def record(entry: dict) -> None:
            log.write(json.dumps(entry) + "\n")
            log.flush()
            bar.update(1)
            bar.set_postfix(stage=entry["stage"])

        model = train_threeway(x_train, y_train, ThreewayConfig(layout=layout), training, log=record)
    bar.close()
    calibration = choose_head(model, x_val, y_val, TARGET_RATE, log=say)
    accuracy = validation_accuracy(predict(model, x_val), y_val, calibration.generated_threshold)

    summary = {
        "datasets": {spec: sum(1 for i in items if i.source == Path(spec).name) for spec in datasets},
        "pictures": dict(Counter(f"{i.source}/{i.label}" for i in items)),
        "draws": draws,
        "validation_share": VAL_SHARE,
        "train_rows_by_class": np.bincount(y_train, minlength=3).tolist(),
        "val_rows_by_class": np.bincount(y_val, minlength=3).tolist(),
        "val_folders": {spec: sum(1 for i in val_files if i.source == Path(spec).name) for spec in val_datasets},
        "failed": failed,
        "calibration": dataclasses.asdict(calibration),
        "validation": accuracy,
        "training": dataclasses.asdict(training),
        "extractor": extractor_name,
        "chain": CHAIN_VERSION,
        "git": git_commit(),
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    metadata: dict = {"extractor": extractor_name, "views": INFERENCE_VIEWS, "chain": CHAIN_VERSION, "seed": seed}
    if extractor_weights is not None:  # a user's backbone: where it is and what it is
        metadata |= {
            "extractor_weights": str(extractor_weights),
            "extractor_weights_sha256": sha256_of(extractor_weights),
        }
    metadata |= {"training": {"rows": int(len(y_train)), "by_class": summary["train_rows_by_class"]}}
    checkpoint = out_dir / "last.safetensors"
    save_threeway(model, checkpoint, metadata)
    for line in failed:
        say(f"skipped: {line}")
    per_class = ", ".join(f"{c} {v:.0%}" for c, v in accuracy["per_class_accuracy_val"].items())
    say(
        f"validation ({len(y_val)} rows): balanced accuracy {accuracy['balanced_accuracy_val']:.3f} ({per_class}); "
        f"head {calibration.head}, generated threshold {calibration.generated_threshold:.4f}"
    )
    return checkpoint
