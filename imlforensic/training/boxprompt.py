"""Train the BoxPromptIML student from annotation folders (``imlforensic train-boxprompt``).

Targets are the teacher's soft logits written by ``imlforensic annotate`` (boxed images of a
dataset, e.g. the bounding boxes of ``casia1@train``'s edits, and synthetic edits of which only
the bounding boxes were kept); authentic images have an all-zero target. No pixel mask of a
dataset or of the synthetic editor is ever read for the loss: validation datasets (``--val``)
use their masks for the metrics only.

Each sample is turned to landscape, cropped (8-aligned, random) or reflect-padded to the
training size exactly like the localizer's training images (:func:`imlforensic.training.data.fit_to_size`),
and flipped at random; its target follows the same steps, padding counting as "not edited"
(the target is shifted by ``Z_OUTSIDE`` so that the zero padding of
:func:`~imlforensic.training.data.apply_recipe` becomes ``Z_OUTSIDE``).

Seeded (sample ``i`` depends only on the seed and ``i``), resumable (``last.safetensors`` plus
``last.train-state.pt``), mixed precision on CUDA, a progress bar with the running loss and the
latest validation metrics, ``log.jsonl`` with one record per validation.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info
from tqdm import tqdm

from imlforensic.data.splits import load_split
from imlforensic.io.images import ImageLoadError, load_image
from imlforensic.maps import pool_score
from imlforensic.metrics import pixel
from imlforensic.models.boxprompt import BoxPromptConfig, BoxPromptNet, LossConfig, distillation_loss, save_boxprompt
from imlforensic.models.inputs import build_views
from imlforensic.training.annotate import Z_OUTSIDE, IndexEntry, load_pseudo, read_index
from imlforensic.training.data import apply_recipe, fit_to_size, labelled_item
from imlforensic.training.trainer import make_optimizer, resume_from, run_metadata, save_train_state, warmup_cosine


@dataclass
class BoxPromptTrainConfig:
    steps: int = 1500
    batch_size: int = 8
    lr: float = 1e-3
    backbone_lr_factor: float = 0.3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    size: tuple[int, int] = (256, 384)
    val_every: int = 250
    workers: int = 1
    seed: int = 0
    max_side: int = 768  # inference: longer side the method analyses at (stored in the checkpoint)
    model: BoxPromptConfig = field(default_factory=BoxPromptConfig)
    loss: LossConfig = field(default_factory=LossConfig)

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["model"] = self.model.as_dict()
        values["loss"] = self.loss.as_dict()
        return values


PRESETS: dict[str, BoxPromptTrainConfig] = {
    # 2.4 s a step measured on this 2-core machine with one thread at low load: 1200 steps are
    # about 48 min (docs/boxprompt.md)
    "cpu": BoxPromptTrainConfig(steps=1200, val_every=200),
    "gpu": BoxPromptTrainConfig(steps=6000, batch_size=32, val_every=500, workers=8),
    "tiny": BoxPromptTrainConfig(
        steps=30,
        batch_size=4,
        lr=1e-2,
        warmup_steps=2,
        size=(64, 96),
        val_every=15,
        workers=0,
        model=BoxPromptConfig(decoder_width=16, prototypes=8, memory_dim=16),
    ),
}


def _target(entry: IndexEntry, shape: tuple[int, int]) -> np.ndarray:
    if entry.pseudo is None:
        return np.full(shape, Z_OUTSIDE, np.float32)
    logits = load_pseudo(entry.pseudo)
    if logits.shape != shape:
        raise ValueError(
            f"{entry.pseudo}: pseudo mask is {logits.shape[1]}x{logits.shape[0]}, image is {shape[1]}x{shape[0]}"
        )
    return logits


def boxed_item(
    entry: IndexEntry, config: BoxPromptTrainConfig, rng: np.random.Generator | None
) -> tuple[np.ndarray, np.ndarray]:
    """(views C x H x W, teacher logits H x W) of one annotated image at the training size."""
    image = load_image(entry.image)
    target = _target(entry, image.rgb.shape[:2])
    fitted, recipe = fit_to_size(image.rgb, config.size, rng)
    target = apply_recipe(target - Z_OUTSIDE, config.size, recipe) + Z_OUTSIDE
    table = image.luma_table
    if table is not None and recipe[0]:  # turned a quarter: as in training.data.labelled_item
        table = table.T.copy() if image.rgb.shape[1] % 8 == 0 else None
    if rng is not None and rng.random() < 0.5:
        fitted, target = np.ascontiguousarray(fitted[:, ::-1]), np.ascontiguousarray(target[:, ::-1])
    return build_views(fitted, config.model.network_views(), table), target.astype(np.float32)


class BoxedStream(IterableDataset):
    """An endless, seeded stream of (views, teacher logits) from annotation folders."""

    def __init__(self, entries: list[IndexEntry], config: BoxPromptTrainConfig) -> None:
        super().__init__()
        if not entries:
            raise ValueError("nothing to train on: the annotation folders list no images")
        self.entries = entries
        self.config = config
        self.start_index = 0

    def __iter__(self):
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        index = self.start_index + worker
        while True:
            rng = np.random.default_rng([self.config.seed, index])
            index += workers
            try:
                views, target = boxed_item(self.entries[int(rng.integers(len(self.entries)))], self.config, rng)
            except (ImageLoadError, ValueError) as exc:
                tqdm.write(f"skipped a sample: {exc}", file=sys.stderr)
                continue
            yield torch.from_numpy(views), torch.from_numpy(target)[None]


class Validation:
    """Validation images at the training size; their masks are read for the metrics only."""

    def __init__(self, specs: list[str], config: BoxPromptTrainConfig, limit: int | None = None) -> None:
        samples = [s for spec in specs for s in load_split(spec) if s.label in ("authentic", "manipulated")]
        views = config.model.network_views()
        self.items = [labelled_item(s, config.size, views, rng=None, with_mask=True) for s in samples[:limit]]

    @torch.no_grad()
    def evaluate(self, model: BoxPromptNet, device: str, batch_size: int = 8) -> dict[str, float]:
        if not self.items:
            return {}
        model.eval()
        f1s, aucs, alarms = [], [], []
        for start in range(0, len(self.items), batch_size):
            chunk = self.items[start : start + batch_size]
            views = torch.from_numpy(np.stack([i.views for i in chunk])).to(device)
            maps = torch.sigmoid(model(views))[:, 0].float().cpu().numpy()
            for item, heatmap in zip(chunk, maps):
                if item.label == 1 and item.mask.any():
                    f1s.append(pixel.f1_score(item.mask, heatmap >= 0.5))
                    aucs.append(pixel.auc(item.mask, heatmap))
                elif item.label == 0:
                    alarms.append(float(pool_score(heatmap) >= 0.5))
        model.train()
        metrics = {}
        if f1s:
            metrics["val_pixel_f1"] = float(np.mean(f1s))
            metrics["val_pixel_auc"] = float(np.nanmean(aucs))
        if alarms:
            metrics["val_false_alarm"] = float(np.mean(alarms))
        return metrics


def read_annotations(folders: list[Path]) -> list[IndexEntry]:
    return [entry for folder in folders for entry in read_index(folder)]


def train(
    config: BoxPromptTrainConfig,
    annotations: list[Path],
    val_datasets: list[str],
    out_dir: Path,
    device: str = "cpu",
    resume: bool = False,
    show_progress: bool = True,
    imagenet_init: bool = True,
    val_limit: int | None = None,
) -> Path:
    """Train the student; returns ``out_dir/last.safetensors`` (module docstring)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    entries = read_annotations(annotations)
    stream = BoxedStream(entries, config)
    model = BoxPromptNet(config.model, imagenet_init=imagenet_init).to(device)
    optimizer = make_optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine(step, config.warmup_steps, config.steps)
    )
    use_amp = device.startswith("cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    checkpoint, state_path, log_path = (
        out_dir / "last.safetensors",
        out_dir / "last.train-state.pt",
        out_dir / "log.jsonl",
    )
    step, elapsed_before = 0, 0.0
    if resume and checkpoint.is_file() and state_path.is_file():
        step, elapsed_before = resume_from(checkpoint, state_path, model, optimizer, scheduler, device)
    stream.start_index = step * config.batch_size
    validation = Validation(val_datasets, config, limit=val_limit)
    summary = {
        "annotations": {str(f): len(read_index(f)) for f in annotations},
        "boxed_images": sum(1 for e in entries if e.pseudo is not None),
        "authentic_images": sum(1 for e in entries if e.pseudo is None),
        "validation": {spec: len(load_split(spec)) for spec in val_datasets},
        "targets": "teacher pseudo-masks from boxes only; validation masks used for metrics only",
    }
    loader = DataLoader(
        stream,
        batch_size=config.batch_size,
        num_workers=config.workers,
        pin_memory=use_amp,
        persistent_workers=config.workers > 0,
    )
    model.train()
    started = time.perf_counter()
    running: float | None = None
    metrics: dict[str, float] = {}
    window: list[float] = []
    bar = tqdm(
        total=config.steps,
        initial=step,
        desc="train-boxprompt",
        unit="step",
        disable=not show_progress,
        file=sys.stderr,
    )
    batches = iter(loader)
    while step < config.steps:
        views, target = next(batches)
        views, target = views.to(device, non_blocking=True), target.to(device, non_blocking=True)
        with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=use_amp):
            logits = model(views)
        terms = distillation_loss(logits, target, config.loss)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(terms["loss"]).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        step += 1
        value = float(terms["loss"].detach())
        running = value if running is None else 0.9 * running + 0.1 * value
        window.append(value)
        if step % config.val_every == 0 or step == config.steps:
            metrics = validation.evaluate(model, device)
            elapsed = elapsed_before + time.perf_counter() - started
            record = {"step": step, "loss": running, "loss_mean": sum(window) / len(window), "elapsed_s": elapsed}
            record.update({k: float(v.detach()) for k, v in terms.items() if k != "loss"})
            record.update(metrics)
            window = []
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(json.dumps(record) + "\n")
            _save(model, optimizer, scheduler, step, elapsed, config, summary, metrics, checkpoint, state_path, device)
        bar.set_postfix(loss=f"{running:.3f}", **{k.replace("val_", ""): f"{v:.3f}" for k, v in metrics.items()})
        bar.update(1)
    bar.close()
    return checkpoint


def _save(model, optimizer, scheduler, step, elapsed, config, summary, metrics, checkpoint, state_path, device) -> None:
    metadata = {
        "threshold": 0.5,
        "max_side": config.max_side,
        **run_metadata(config, summary, step, metrics, elapsed, device),
    }
    save_boxprompt(checkpoint, model, metadata)
    save_train_state(state_path, optimizer, scheduler, step, elapsed)


def preset(name: str, **overrides: Any) -> BoxPromptTrainConfig:
    """A preset with overrides; ``memory`` and ``hard`` go to the model and the loss (the ablations)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    config = PRESETS[name]
    model_changes = {k: overrides.pop(k) for k in ("memory",) if overrides.get(k) is not None}
    loss_changes = {k: overrides.pop(k) for k in ("hard",) if overrides.get(k) is not None}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return replace(
        config, model=replace(config.model, **model_changes), loss=replace(config.loss, **loss_changes), **overrides
    )
