"""Train the multi-view CAM localizer (or the dual-stream ``transcam`` network) with image-level labels only.

Seeded (same data order and initialisation for the same seed), resumable (``last.safetensors``
plus ``last.train-state.pt`` in the output folder), mixed precision on CUDA, progress bar with
the running loss and the latest validation metrics. Pixel masks of validation images are read
only to report localization metrics; they never enter the loss.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from imlforensic.data.splits import load_split
from imlforensic.io.atomic import atomic_path
from imlforensic.metrics import pixel
from imlforensic.models.checkpoint import git_commit, save_checkpoint
from imlforensic.models.network import MultiViewCAMNet, NetworkConfig, weak_supervision_loss
from imlforensic.models.transcam import TransCAMConfig, TransCAMNet, transcam_loss
from imlforensic.pipeline.inputs import IMAGE_SUFFIXES
from imlforensic.training import distributed
from imlforensic.training.data import TrainingStream, collate, labelled_item

CLASSES = ["authentic", "manipulated"]


@dataclass
class TrainConfig:
    steps: int = 1200
    batch_size: int = 12
    lr: float = 1e-3
    backbone_lr_factor: float = 0.3
    weight_decay: float = 1e-4
    warmup_steps: int = 60
    size: tuple[int, int] = (256, 384)
    synthetic_share: float = 0.5
    val_every: int = 200
    workers: int = 1
    seed: int = 0
    network: NetworkConfig = field(default_factory=NetworkConfig)

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["network"] = self.network.as_dict()
        return values


# The default network reads forensic views only - image-relative JPEG-ghost statistics, the noise
# residual and block-wise double quantisation - at half resolution: strong evidence at a quarter
# of the computation. It does not read the RGB image: with it, the network memorised the scenes
# of its few labelled images (held-out image AUC 0.60 against 0.99 on the training half) instead
# of learning forensic cues (docs/BENCHMARKS.md, "Design iterations").
FEATURE_NETWORK = NetworkConfig(views=("ghost", "noise", "dq"), input_scale=2)

PRESETS: dict[str, TrainConfig] = {
    # Under an hour on a 2-core CPU (see docs/BENCHMARKS.md for the measured time).
    "cpu": TrainConfig(steps=1600, batch_size=12, val_every=250, workers=1, network=FEATURE_NETWORK),
    "gpu": TrainConfig(steps=8000, batch_size=32, val_every=500, workers=8, network=FEATURE_NETWORK),
    # The first design: RGB + signed error levels at full resolution (4x the computation).
    "cpu-sel": TrainConfig(steps=1000, batch_size=12, val_every=250, workers=1),
    "tiny": TrainConfig(
        steps=20,
        batch_size=4,
        val_every=10,
        workers=0,
        size=(64, 96),
        warmup_steps=2,
        network=NetworkConfig(views=("ghost", "noise", "dq"), input_scale=2, head_width=16),
    ),
}


# The dual-stream network of paper 3 (imlforensic.models.transcam) on the same views; its Transformer
# branch starts from scratch, so it gets a lower learning rate than the CAM heads of mvcam and a
# longer warm-up. "cpu": a step took 1.19x (nearly idle) to 1.63x (loaded) mvcam's cpu step in the
# same conditions (data loading, the forensic views, is much of both); mvcam's 1600 steps took
# 17 min idle, so 2400 steps are about 30-41 min on 2 cores (an estimate: docs/BENCHMARKS.md, "transcam").
TRANSCAM_NETWORK = TransCAMConfig()
TRANSCAM_PRESETS: dict[str, TrainConfig] = {
    "cpu": TrainConfig(
        steps=2400, batch_size=12, lr=5e-4, warmup_steps=100, val_every=300, workers=1, network=TRANSCAM_NETWORK
    ),
    "gpu": TrainConfig(
        steps=8000, batch_size=32, lr=5e-4, warmup_steps=400, val_every=500, workers=8, network=TRANSCAM_NETWORK
    ),
    "tiny": replace(PRESETS["tiny"], network=TransCAMConfig(embed_dim=32, heads=2, depths=(1, 1, 1, 1), head_width=16)),
}
NETWORK_PRESETS = {"mvcam": PRESETS, "transcam": TRANSCAM_PRESETS}
"""``imlforensic train --network NAME --preset PRESET``: the presets of each network."""


def build_network(config: NetworkConfig, imagenet_init: bool = True) -> MultiViewCAMNet | TransCAMNet:
    """The network a training configuration trains (a :class:`TransCAMConfig` makes the dual-stream one)."""
    if isinstance(config, TransCAMConfig):
        return TransCAMNet(config, imagenet_init=imagenet_init)
    return MultiViewCAMNet(config, imagenet_init=imagenet_init)


def list_photos(folders: list[Path]) -> list[Path]:
    photos: list[Path] = []
    for folder in folders:
        if folder.is_file():
            photos.append(folder)
            continue
        photos += sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    return photos


class ValidationSet:
    """Fixed validation images at the training size (labels, and masks where they exist)."""

    def __init__(
        self, specs: list[str], size: tuple[int, int], network: NetworkConfig, limit: int | None = None
    ) -> None:
        samples = [s for spec in specs for s in load_split(spec) if s.label in ("authentic", "manipulated")]
        self.items = [labelled_item(s, size, network, rng=None, with_mask=True) for s in samples[:limit]]

    @torch.no_grad()
    def evaluate(self, model: MultiViewCAMNet | TransCAMNet, device: str, batch_size: int = 8) -> dict[str, float]:
        if not self.items:
            return {}
        model.eval()
        scores, aucs, f1s = [], [], []
        for start in range(0, len(self.items), batch_size):
            chunk = self.items[start : start + batch_size]
            views = torch.from_numpy(np.stack([i.views for i in chunk])).to(device, memory_format=torch.channels_last)
            out = model(views)
            maps = torch.sigmoid(
                F.interpolate(out["logit_map"], size=chunk[0].mask.shape, mode="bilinear", align_corners=False)
            )
            for item, prob_map, logit in zip(chunk, maps[:, 0].cpu().numpy(), out["logit"].cpu().numpy()):
                scores.append(float(logit))
                if item.label == 1 and item.mask.any():
                    aucs.append(pixel.auc(item.mask, prob_map))
                    f1s.append(pixel.f1_score(item.mask, prob_map >= 0.5))
        model.train()
        labels = [i.label for i in self.items]
        from sklearn.metrics import roc_auc_score

        metrics = {
            "val_pixel_auc": float(np.nanmean(aucs)) if aucs else float("nan"),
            "val_pixel_f1": float(np.mean(f1s)) if f1s else float("nan"),
        }
        if 0 < sum(labels) < len(labels):
            metrics["val_image_auc"] = float(roc_auc_score(labels, scores))
        return metrics


def make_optimizer(model: torch.nn.Module, config: Any) -> torch.optim.Optimizer:
    """AdamW with the pretrained encoder (its widened stem aside) at ``config.lr *
    config.backbone_lr_factor`` and everything else at ``config.lr`` (shared by the trainers)."""
    backbone = [
        p for n, p in model.named_parameters() if n.startswith("encoder.") and not n.startswith("encoder.conv_stem")
    ]
    heads = [
        p for n, p in model.named_parameters() if not n.startswith("encoder.") or n.startswith("encoder.conv_stem")
    ]
    return torch.optim.AdamW(
        [{"params": backbone, "lr": config.lr * config.backbone_lr_factor}, {"params": heads, "lr": config.lr}],
        weight_decay=config.weight_decay,
    )


def resume_from(
    checkpoint: Path, state_path: Path, model: torch.nn.Module, optimizer: Any, scheduler: Any, device: str
) -> tuple[int, float]:
    """Load the last checkpoint's weights and the optimizer and schedule state written by
    :func:`save_train_state`; returns (steps done, seconds spent)."""
    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(checkpoint)))
    state = torch.load(state_path, map_location=device, weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return int(state["step"]), float(state["elapsed_s"])


def warmup_cosine(step: int, warmup_steps: int, steps: int) -> float:
    """Learning-rate factor: linear warm-up over ``warmup_steps``, then a cosine decay to 0 at ``steps``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def _lr_factor(step: int, config: TrainConfig) -> float:
    return warmup_cosine(step, config.warmup_steps, config.steps)


def train(
    config: TrainConfig,
    datasets: list[str],
    photo_folders: list[Path],
    val_datasets: list[str],
    out_dir: Path,
    device: str = "cpu",
    resume: bool = False,
    show_progress: bool = True,
    imagenet_init: bool = True,
    donor_folders: list[Path] | None = None,
) -> Path:
    """Run training; returns the path of the final checkpoint (``out_dir/last.safetensors``).

    ``donor_folders``: generated pictures whose regions are blended into the photos (the
    ``generated_blend`` synthetic edit). Under ``torchrun`` each process trains on its share of
    every global batch in DDP (:mod:`imlforensic.training.distributed`); rank 0 validates and writes.
    """
    dist = distributed.context()
    if dist.active:
        device = distributed.setup(dist, device, config.batch_size)
    try:
        return _train(
            config,
            datasets,
            photo_folders,
            val_datasets,
            out_dir,
            device,
            resume,
            show_progress,
            imagenet_init,
            dist,
            donor_folders,
        )
    finally:
        distributed.teardown(dist)


def _train(
    config: TrainConfig,
    datasets: list[str],
    photo_folders: list[Path],
    val_datasets: list[str],
    out_dir: Path,
    device: str,
    resume: bool,
    show_progress: bool,
    imagenet_init: bool,
    dist: distributed.DistContext,
    donor_folders: list[Path] | None,
) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    labelled = [s for spec in datasets for s in load_split(spec)]
    photos = list_photos(photo_folders)
    donor_folders = list(donor_folders or [])
    stream = TrainingStream(
        labelled, photos, config.size, config.network, config.synthetic_share, config.seed, list_photos(donor_folders)
    )
    # channels-last is 1.5x faster for these convolutions on CPU (and no slower on GPU)
    model = build_network(config.network, imagenet_init=imagenet_init).to(device).to(memory_format=torch.channels_last)
    loss_of = transcam_loss if isinstance(model, TransCAMNet) else weak_supervision_loss
    optimizer = make_optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _lr_factor(step, config))
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
        model.to(memory_format=torch.channels_last)
    stream.start_index = step * config.batch_size
    if dist.active:
        stream.shard(dist.rank, dist.world, config.batch_size)
    trained = distributed.wrap(model, dist, device)  # `model` itself outside torchrun
    validation = ValidationSet(val_datasets if dist.main else [], config.size, config.network)
    summary = {
        "datasets": {spec: len(load_split(spec)) for spec in datasets},
        "photos": {str(f): len(list_photos([f])) for f in photo_folders},
        "generated_donors": {str(f): len(list_photos([f])) for f in donor_folders},
        "validation": {spec: len(load_split(spec)) for spec in val_datasets},
        "labels": "image-level only; masks used for validation metrics only",
    }
    loader = DataLoader(
        stream,
        batch_size=config.batch_size // dist.world,
        pin_memory=device.startswith("cuda"),
        num_workers=config.workers,
        collate_fn=collate,
        persistent_workers=config.workers > 0,
    )
    model.train()
    started = time.perf_counter()
    running, metrics = None, {}
    window: list[float] = []
    bar = tqdm(
        total=config.steps,
        initial=step,
        desc="train",
        unit="step",
        disable=not show_progress or not dist.main,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    batches = iter(loader)
    while step < config.steps:
        batch = next(batches)
        views = batch["views"].to(device, non_blocking=True, memory_format=torch.channels_last)
        labels = batch["label"].to(device)
        with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=use_amp):
            loss = loss_of(trained(views), labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        step += 1
        value = distributed.mean_over_processes(loss, dist)  # the global batch's loss
        running = value if running is None else 0.95 * running + 0.05 * value
        window.append(value)
        if step % config.val_every == 0 or step == config.steps:
            if not dist.main:  # rank 0 validates and writes; the others wait for it
                distributed.barrier(dist)
                window = []
                continue
            metrics = validation.evaluate(model, device)
            record = {
                "step": step,
                "loss": running,
                "loss_mean": sum(window) / len(window),  # over the steps since the last record
                "processes": dist.world,
                "elapsed_s": elapsed_before + time.perf_counter() - started,
                **metrics,
            }
            window = []
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(json.dumps(record) + "\n")
            _save(
                model,
                optimizer,
                scheduler,
                step,
                record["elapsed_s"],
                config,
                summary,
                metrics,
                checkpoint,
                state_path,
                device,
            )
            distributed.barrier(dist)
        bar.set_postfix(loss=f"{running:.3f}", **{k.replace("val_", ""): f"{v:.3f}" for k, v in metrics.items()})
        bar.update(1)
    bar.close()
    return checkpoint


def run_metadata(config: Any, summary: Any, step: int, metrics: dict, elapsed: float, device: str) -> dict[str, Any]:
    """What every training run records in its checkpoint: its configuration, data, steps,
    validation metrics, wall time, hardware and git commit (shared by the trainers)."""
    return {
        "train_config": config.as_dict(),
        "data": summary,
        "steps": step,
        "validation": metrics,
        "elapsed_s": round(elapsed, 1),
        "hardware": {
            "device": device,
            "cpu_count": os.cpu_count(),
            "machine": platform.machine(),
            "torch": torch.__version__,
        },
        "git_commit": git_commit(),
    }


def save_train_state(state_path: Path, optimizer: Any, scheduler: Any, step: int, elapsed: float) -> None:
    """The optimizer and schedule state that ``--resume`` continues from, written atomically."""
    with atomic_path(state_path) as tmp:
        torch.save(
            {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "step": step,
                "elapsed_s": elapsed,
            },
            tmp,
        )


def _save(model, optimizer, scheduler, step, elapsed, config, summary, metrics, checkpoint, state_path, device) -> None:
    metadata = {"classes": CLASSES, **run_metadata(config, summary, step, metrics, elapsed, device)}
    save_checkpoint(checkpoint, model, metadata)
    save_train_state(state_path, optimizer, scheduler, step, elapsed)
