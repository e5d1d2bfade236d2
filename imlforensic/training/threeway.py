"""Training the three-way classifier (:mod:`imlforensic.models.threeway`) on cached features.

Stages, as in paper 3 (sections 3.2 and 3.3): the teacher with cross-entropy; then, teacher
frozen, the students and the generalizers *rotated* step by step (a student step on equations 1-5
with fake features passed through the generalizers' current output, then a generalizer step on
equations 6-7 with teacher and students frozen); then the classifier ``N_C`` on the squared
discrepancies (equation 8), everything else frozen. ``students=False`` stops after the teacher
(the ablation's "teacher alone": its softmax is the output); ``generalizers=False`` trains the
students on the raw features (``G`` = identity).

Batches are class-balanced (each class drawn equally often); the features are standardised with
the training rows' mean and std, and each training row gets Gaussian noise (``feature_noise``
standard deviations), since the training set is a few thousand rows.

**Calibration** (:func:`calibrate`): on validation rows of the *training side* (never the test
sets), the generated threshold is the smallest probability that calls at most
``target_rate`` of the validation rows that are not generated (real and edited) generated.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from imlforensic.models.threeway import (
    CLASSES,
    Calibration,
    FeatureGeneralizer,
    ThreewayConfig,
    ThreewayModel,
    generalizer_loss_ff,
    generalizer_loss_pf,
    student_losses,
)

AUTHENTIC, MANIPULATED, GENERATED = range(3)
VAL_SHARE = 0.15
"""Share of the training side's groups (a prompt, a sheet, a picture) kept for validation."""
TARGET_RATE = 0.02
"""At most this share of the validation pictures that are not generated may be called generated."""


def in_val(group: str, share: float = VAL_SHARE) -> bool:
    """Whether a group goes to validation: by the sha1 of its name, so the split is the same on
    every machine and does not move when other pictures are added."""
    return int(hashlib.sha1(f"val:{group}".encode()).hexdigest()[:8], 16) < share * 16**8


@dataclass(frozen=True)
class ThreewayTraining:
    teacher_epochs: int = 15
    student_epochs: int = 6
    classifier_epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.05
    feature_noise: float = 0.2
    classifier_copies: int = 2
    students: bool = True
    generalizers: bool = True
    target_rate: float = 0.02
    seed: int = 0


def _balanced_batches(labels: np.ndarray, batch: int, steps: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``steps`` index batches drawing each present class equally often."""
    present = [np.flatnonzero(labels == c) for c in range(len(CLASSES)) if (labels == c).any()]
    per = max(1, batch // len(present))
    return [np.concatenate([rng.choice(idx, per) for idx in present]) for _ in range(steps)]


def _steps(n: int, batch: int) -> int:
    return max(1, math.ceil(n / batch))


def _noisy(x: torch.Tensor, noise: float) -> torch.Tensor:
    return x + noise * torch.randn_like(x) if noise > 0 else x


def _optimizer(params: list[nn.Parameter], config: ThreewayTraining, steps: int) -> tuple:
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=max(steps, 2), pct_start=0.1)
    return optimizer, schedule


def _freeze(*modules: nn.Module) -> None:
    for module in modules:
        module.eval()
        for p in module.parameters():
            p.requires_grad_(False)


def train_threeway(
    features: np.ndarray,
    labels: np.ndarray,
    model_config: ThreewayConfig,
    config: ThreewayTraining = ThreewayTraining(),
    log: Callable[[dict], None] | None = None,
) -> ThreewayModel:
    """Train every stage on ``features`` (N, dim) with ``labels`` in 0..2 (see the module docstring)."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    labels = np.asarray(labels, dtype=np.int64)
    model = ThreewayModel(model_config)
    x_raw = torch.from_numpy(np.asarray(features, dtype=np.float32))
    model.mean.copy_(x_raw.mean(0))
    model.std.copy_(x_raw.std(0).clamp_min(1e-3))
    x = model.standardise(x_raw)
    y = torch.from_numpy(labels)
    say = log or (lambda record: None)
    steps = _steps(len(y), config.batch_size)

    # stage 1: the teacher, cross-entropy
    batches = _balanced_batches(labels, config.batch_size, steps * config.teacher_epochs, rng)
    optimizer, schedule = _optimizer(list(model.teacher.parameters()), config, len(batches))
    model.teacher.train()
    for step, idx in enumerate(batches, 1):
        loss = F.cross_entropy(model.teacher(_noisy(x[idx], config.feature_noise)), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % steps == 0:
            say({"stage": "teacher", "epoch": step // steps, "loss": float(loss.detach())})
    _freeze(model.teacher)
    if not config.students:
        model.calibration = Calibration(head="teacher")
        return model.eval()

    # stage 2: students and generalizers, rotated
    g_pf, g_ff = FeatureGeneralizer(model_config), FeatureGeneralizer(model_config)
    students = list(model.student1.parameters()) + list(model.student2.parameters())
    batches = _balanced_batches(labels, config.batch_size, steps * config.student_epochs, rng)
    optimizer, schedule = _optimizer(students, config, len(batches))
    g_optimizer = torch.optim.Adam(list(g_pf.parameters()) + list(g_ff.parameters()), lr=config.lr)
    nets: dict[str, nn.Module] = {"T": model.teacher, "S1": model.student1, "S2": model.student2}
    for step, idx in enumerate(batches, 1):
        xb, yb = _noisy(x[idx], config.feature_noise), y[idx]
        parts = {"R": xb[yb == AUTHENTIC], "PF": xb[yb == MANIPULATED], "FF": xb[yb == GENERATED]}
        if config.generalizers:
            with torch.no_grad():
                parts["GPF"], parts["GFF"] = g_pf(parts["PF"]), g_ff(parts["FF"])
        else:
            parts["GPF"], parts["GFF"] = parts["PF"], parts["FF"]
        parts = {k: v for k, v in parts.items() if len(v)}
        model.student1.train()
        model.student2.train()
        z = {part: {name: net(v) for name, net in nets.items()} for part, v in parts.items()}
        terms = student_losses(z, model_config.margin)
        loss = torch.stack(list(terms.values())).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        g_terms: dict[str, float] = {}
        if config.generalizers:  # the adversarial step: students and teacher frozen for it
            model.student1.eval()
            model.student2.eval()
            g_loss = torch.zeros(())
            if "PF" in parts:
                f = g_pf(parts["PF"])
                term = generalizer_loss_pf(nets["T"](f), nets["S1"](f), nets["S2"](f), model_config.margin)
                g_loss, g_terms["eq6"] = g_loss + term, float(term.detach())
            if "FF" in parts:
                f = g_ff(parts["FF"])
                term = generalizer_loss_ff(nets["T"](f), nets["S1"](f), nets["S2"](f), model_config.margin)
                g_loss, g_terms["eq7"] = g_loss + term, float(term.detach())
            for net in (model.student1, model.student2):
                net.zero_grad(set_to_none=True)
            g_optimizer.zero_grad()
            g_loss.backward()
            g_optimizer.step()
            for net in (model.student1, model.student2):
                net.zero_grad(set_to_none=True)
        if step % steps == 0:
            record = {"stage": "students", "epoch": step // steps} | {k: float(v.detach()) for k, v in terms.items()}
            say(record | g_terms)
    _freeze(model.student1, model.student2)

    # stage 3: the classifier on the squared discrepancies (of the clean rows and of
    # ``classifier_copies`` noisy copies, computed once: the frozen networks need not run per step)
    with torch.no_grad():
        inputs = [model.discrepancies(x)]
        inputs += [model.discrepancies(_noisy(x, config.feature_noise)) for _ in range(config.classifier_copies)]
    d_all, y_all = torch.cat(inputs), y.repeat(len(inputs))
    batches = _balanced_batches(y_all.numpy(), config.batch_size, steps * config.classifier_epochs, rng)
    optimizer, schedule = _optimizer(list(model.classifier.parameters()), config, len(batches))
    model.classifier.train()
    for step, idx in enumerate(batches, 1):
        loss = F.cross_entropy(model.classifier(d_all[idx]), y_all[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % steps == 0:
            say({"stage": "classifier", "epoch": step // steps, "loss": float(loss.detach())})
    model.calibration = Calibration(head="classifier")
    return model.eval()


def predict(model: ThreewayModel, features: np.ndarray, head: str | None = None, batch: int = 2048) -> np.ndarray:
    """Class probabilities (N, 3) of raw feature rows."""
    out = [
        model.probabilities(torch.from_numpy(np.asarray(features[i : i + batch], np.float32)), head).numpy()
        for i in range(0, len(features), batch)
    ]
    return np.concatenate(out) if out else np.zeros((0, len(CLASSES)), np.float32)


def calibrate(model: ThreewayModel, features: np.ndarray, labels: np.ndarray, target_rate: float) -> Calibration:
    """The generated threshold for ``target_rate`` on validation rows (see the module docstring)."""
    p = predict(model, features)[:, GENERATED]
    negatives = np.sort(p[np.asarray(labels) != GENERATED])
    if len(negatives) == 0:
        raise ValueError("calibration needs validation pictures that are not generated")
    allowed = int(math.floor(target_rate * len(negatives)))
    threshold = float(negatives[len(negatives) - 1 - allowed]) if allowed < len(negatives) else 0.0
    threshold = float(np.nextafter(np.float32(threshold), np.float32(1.0)))
    threshold = min(max(threshold, 0.5 / len(CLASSES)), 1.0 - 1e-6)
    positives = p[np.asarray(labels) == GENERATED]
    notes = {
        "target_rate": target_rate,
        "validation_negatives": int(len(negatives)),
        "validation_generated": int(len(positives)),
        "negatives_called": float((negatives >= threshold).mean()),
        "generated_called": float((positives >= threshold).mean()) if len(positives) else None,
    }
    return Calibration(generated_threshold=threshold, head=model.calibration.head, notes=notes)


def decide(probs: np.ndarray, threshold: float) -> np.ndarray:
    """The classifier's own three-way decision: generated at the threshold, else the larger of the
    other two classes."""
    other = np.where(probs[:, MANIPULATED] > probs[:, AUTHENTIC], MANIPULATED, AUTHENTIC)
    return np.where(probs[:, GENERATED] >= threshold, GENERATED, other)


def validation_accuracy(probs: np.ndarray, labels: np.ndarray, threshold: float) -> dict:
    """Per-class accuracy and balanced accuracy of :func:`decide` on labelled rows."""
    pred = decide(probs, threshold)
    recall = {c: float((pred[labels == i] == i).mean()) for i, c in enumerate(CLASSES) if (labels == i).any()}
    return {"per_class_accuracy_val": recall, "balanced_accuracy_val": float(np.mean(list(recall.values())))}


def choose_head(
    model: ThreewayModel,
    features: np.ndarray,
    labels: np.ndarray,
    target_rate: float = TARGET_RATE,
    log: Callable[[str], None] | None = None,
) -> Calibration:
    """The decision a checkpoint ships with: ``N_C`` or ``N_T``, whichever has the better balanced
    accuracy on the validation rows at its own calibrated threshold (validation only, never a test
    set; when the students do not help, the teacher's softmax is the better head)."""
    best: tuple[float, Calibration] | None = None
    heads = ("classifier", "teacher") if model.calibration.head == "classifier" else ("teacher",)
    for head in heads:
        model.calibration = Calibration(head=head)
        calibration = calibrate(model, features, labels, target_rate)
        model.calibration = calibration
        accuracy = validation_accuracy(predict(model, features), labels, calibration.generated_threshold)
        calibration.notes["balanced_accuracy_val"] = accuracy["balanced_accuracy_val"]
        if log is not None:
            log(
                f"head {head}: threshold {calibration.generated_threshold:.4f}, "
                f"val balanced accuracy {accuracy['balanced_accuracy_val']:.4f}"
            )
        if best is None or accuracy["balanced_accuracy_val"] > best[0]:
            best = (accuracy["balanced_accuracy_val"], calibration)
    assert best is not None
    model.calibration = best[1]
    return best[1]
