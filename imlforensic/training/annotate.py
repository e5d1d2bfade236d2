"""Box -> pseudo-mask annotation at dataset scale (paper 2's teacher), for the BoxPromptIML student.

A :class:`Teacher` is a refiner (Segment Anything by default: the best installed official
checkpoint, else the offline LiteMedSAM) and, optionally, a method whose forensic map is fused
with the segmenter's candidates inside the boxes by the refiners' Bayesian fusion
(:mod:`imlforensic.refiners.bayes`; ``annotate --fuse-map METHOD``): with SAM the candidates of
each box are SAM's mask(s) and the box itself (:meth:`imlforensic.refiners.sam.SamRefiner.box_candidates`),
the prior that the box holds an edit is :data:`BOXED_PRIOR`, and the map's evidence chooses
between SAM's outline and the box. Per image the teacher gives a
posterior map ``p``; what is kept for distillation is its logit

    z(x) = logit(clip(p(x), PROB_CLIP, 1 - PROB_CLIP))   inside a box,   z(x) = Z_OUTSIDE outside,

so the student learns SAM's confidence and not only its thresholded mask (with LiteMedSAM alone
``p`` is SAM's own sigmoid, and ``z`` its mask logit up to the clip). Outside every box the
analyst says nothing is edited, so the target there is certain.

Layout of an annotation folder (``annotate --out DIR``)::

    DIR/teacher.json            the teacher (cards with name, version, sha256) and settings
    DIR/boxes.csv               the boxes that were used (the format of training/boxes.py)
    DIR/index.csv               image,key,label,pseudo,boxes - every usable image of the dataset
    DIR/pseudo/NAME.safetensors "logits": float16 H x W at the image's size; metadata: image,
                                its sha256, boxes, the teacher
    DIR/pseudo/NAME.mask.png    the pseudo mask (p >= 0.5), to look at

Authentic images are listed with an empty ``pseudo``: their target is zero everywhere.
Manipulated images without boxes are left out (nothing is known of where their edit is).
Re-running skips images whose pseudo mask exists for the same image bytes, boxes and teacher.

:func:`write_synthetic_set` makes a boxed dataset from synthetic edits (:mod:`.synth`): only the
bounding boxes of each edit are written (``boxes.csv``); the editor's pixel mask is dropped, so it
can never become a target. The teacher then annotates that folder like any other.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from imlforensic.data.datasets import Sample
from imlforensic.io.atomic import atomic_path, atomic_write_bytes, atomic_write_json
from imlforensic.io.hashing import sha256_file
from imlforensic.io.images import LoadedImage, load_image
from imlforensic.io.render import encode_png
from imlforensic.methods.base import Method
from imlforensic.refiners.base import Refiner
from imlforensic.refiners.bayes import FusionParams, fuse_candidates
from imlforensic.refiners.prompts import Box, box_mask, clip_boxes
from imlforensic.training.boxes import boxes_from_mask, write_box_csv

PROB_CLIP = 1e-4
"""Posteriors are clipped to [1e-4, 1 - 1e-4] before the logit (|z| <= 9.2)."""
Z_OUTSIDE = -12.0
"""Logit stored outside every box: the analyst's box says no edit lies there."""
BOXED_PRIOR = 0.95
"""Prior that a box holds an edit, in the fused teacher: the analyst drew it around one, so the
fusion's "nothing edited here" hypothesis keeps only 5 %."""
INDEX_COLUMNS = ("image", "key", "label", "pseudo", "boxes")


def _card_json(card: Any) -> dict[str, Any]:
    return {"name": card.name, "version": card.version, "weights_sha256": card.weights_sha256}


@dataclass
class Teacher:
    """A refiner, and optionally a method whose map is fused inside the boxes (module docstring)."""

    refiner: Refiner
    method: Method | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "refiner": _card_json(self.refiner.card),
            "method": None if self.method is None else _card_json(self.method.card),
            "prob_clip": PROB_CLIP,
            "z_outside": Z_OUTSIDE,
        }

    @property
    def name(self) -> str:
        base = f"{self.refiner.card.name} {self.refiner.card.version or ''}".strip()
        return base if self.method is None else f"{base} fused with {self.method.card.name} (Bayesian fusion)"

    def posterior(self, image: LoadedImage, boxes: list[Box]) -> np.ndarray:
        """The teacher's probability map (H x W float32): the segmenter's mask of each box, or its
        candidates fused with the method's map inside the boxes."""
        boxes = clip_boxes(list(boxes), image.rgb.shape[:2])
        if self.method is None:
            return self.refiner.refine(image.rgb, None, boxes)
        output = self.method.analyse(image)
        params = FusionParams().for_threshold(self.method.default_threshold)
        candidates = getattr(self.refiner, "box_candidates", None)
        if candidates is None:  # another refiner: its own fusion of the map inside the boxes
            return self.refiner.refine(image.rgb, output.heatmap, boxes, params=params)
        inside = np.where(box_mask(boxes, output.heatmap.shape), output.heatmap, 0.0).astype(np.float32)
        params = params.with_overrides(candidate_prior=BOXED_PRIOR)
        return fuse_candidates(candidates(image.rgb, boxes), inside, params).posterior

    def logits(self, image: LoadedImage, boxes: list[Box]) -> np.ndarray:
        """The soft target ``z`` of the module docstring (H x W float32)."""
        boxes = clip_boxes(list(boxes), image.rgb.shape[:2])
        p = np.clip(self.posterior(image, boxes), PROB_CLIP, 1.0 - PROB_CLIP).astype(np.float64)
        z = (np.log(p) - np.log1p(-p)).astype(np.float32)
        z[~box_mask(boxes, z.shape)] = Z_OUTSIDE
        return z


def pseudo_name(key: str) -> str:
    """A file name for an image key: readable, and unique by a hash of the key."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", key)[-80:].lstrip(".")
    return f"{safe}-{hashlib.sha1(key.encode('utf-8')).hexdigest()[:8]}"


def save_pseudo(path: Path, logits: np.ndarray, metadata: dict[str, Any]) -> None:
    """The soft logits as float16 safetensors with JSON metadata (atomically)."""
    import torch
    from safetensors.torch import save_file

    tensors = {"logits": torch.from_numpy(np.ascontiguousarray(logits, dtype=np.float16))}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={k: json.dumps(v) for k, v in metadata.items()})


def read_pseudo_metadata(path: Path) -> dict[str, Any] | None:
    """The metadata of a pseudo-mask file, or None when it cannot be read."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            raw = handle.metadata() or {}
        return {k: json.loads(v) for k, v in raw.items()}
    except Exception:  # a truncated or foreign file is annotated again
        return None


def load_pseudo(path: Path) -> np.ndarray:
    """The soft logits of a pseudo-mask file (H x W float32)."""
    from safetensors.numpy import load_file

    return load_file(str(path))["logits"].astype(np.float32)


@dataclass
class AnnotationSummary:
    annotated: int = 0
    skipped: int = 0  # done before (resume)
    authentic: int = 0
    unboxed: int = 0  # manipulated without boxes: left out
    failed: int = 0
    boxes: int = 0


def annotate(
    samples: list[Sample],
    keys: list[str],
    boxes: dict[str, list[Box]],
    teacher: Teacher,
    out_dir: Path,
    show_progress: bool = True,
) -> AnnotationSummary:
    """Pseudo masks for every boxed image of ``samples`` (``keys`` name them in ``boxes``), the
    index of the folder, and its teacher; resumable (module docstring)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    described = teacher.describe()
    atomic_write_json(out_dir / "teacher.json", {"teacher": teacher.name, **described})
    write_box_csv(out_dir / "boxes.csv", {k: boxes[k] for k in keys if k in boxes})
    summary = AnnotationSummary()
    rows: list[dict[str, str]] = []
    bar = tqdm(list(zip(samples, keys)), desc="annotate", unit="image", disable=not show_progress, file=sys.stderr)
    for sample, key in bar:
        found = boxes.get(key)
        if not found:
            if sample.label == "authentic":
                summary.authentic += 1
                rows.append({"image": str(sample.image.resolve()), "key": key, "label": "authentic", "pseudo": ""})
            else:
                summary.unboxed += 1
            continue
        name = pseudo_name(key)
        target = out_dir / "pseudo" / f"{name}.safetensors"
        try:
            digest = sha256_file(sample.image)
            wanted = {"image": key, "image_sha256": digest, "boxes": [list(b) for b in found], "teacher": described}
            previous = read_pseudo_metadata(target) if target.is_file() else None
            if previous is not None and all(previous.get(k) == v for k, v in wanted.items()):
                summary.skipped += 1
            else:
                image = load_image(sample.image)
                logits = teacher.logits(image, found)
                save_pseudo(target, logits, wanted)
                mask = encode_png(np.where(logits >= 0.0, 255, 0).astype(np.uint8))
                atomic_write_bytes(out_dir / "pseudo" / f"{name}.mask.png", mask)
                summary.annotated += 1
        except (OSError, ValueError) as exc:  # unreadable image, box outside it
            summary.failed += 1
            tqdm.write(f"error: {sample.image}: {exc}", file=sys.stderr)
            continue
        summary.boxes += len(found)
        rows.append(
            {
                "image": str(sample.image.resolve()),
                "key": key,
                "label": "manipulated",
                "pseudo": f"pseudo/{name}.safetensors",
                "boxes": str(len(found)),
            }
        )
        bar.set_postfix(done=summary.annotated, resumed=summary.skipped)
    bar.close()
    write_index(out_dir / "index.csv", rows)
    return summary


def write_index(path: Path, rows: Iterable[dict[str, str]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=INDEX_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: row.get(k, "") for k in INDEX_COLUMNS} for row in rows)
    atomic_write_bytes(path, buffer.getvalue().encode("utf-8"))


@dataclass(frozen=True)
class IndexEntry:
    image: Path
    label: str
    pseudo: Path | None  # None: authentic, target zero everywhere


def read_index(folder: Path) -> list[IndexEntry]:
    """The images of an annotation folder (``index.csv``); raises ``ValueError`` when it has none."""
    path = folder / "index.csv"
    if not path.is_file():
        raise ValueError(f"{folder}: not an annotation folder (no index.csv; make one with `imlforensic annotate`)")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    entries = [
        IndexEntry(Path(row["image"]), row["label"], folder / row["pseudo"] if row.get("pseudo") else None)
        for row in rows
    ]
    if not entries:
        raise ValueError(f"{path}: lists no images")
    return entries


def write_synthetic_set(
    photos: list[Path],
    out_dir: Path,
    count: int,
    size: tuple[int, int] = (256, 384),
    seed: int = 0,
    margin: float = 0.05,
    show_progress: bool = True,
) -> Path:
    """``count`` synthetic samples (edited or authentic) as a dataset folder with ``labels.csv`` and
    ``boxes.csv`` (the boxes of each edit's regions, widened by ``margin``); the editor's pixel
    masks are not written. Sample ``i`` depends only on ``seed`` and ``i``; existing images are
    kept (resume). Returns the folder."""
    from imlforensic.training.synth import EditSynthesizer

    synth = EditSynthesizer(photos, size=size)
    images = out_dir / "images"
    images.mkdir(parents=True, exist_ok=True)
    labels = ["image,label,mask,kind"]
    boxes: dict[str, list[Box]] = {}
    for index in tqdm(range(count), desc="synthesize", unit="image", disable=not show_progress, file=sys.stderr):
        name = f"images/synth-{seed}-{index:06d}.png"
        rng = np.random.default_rng([seed, index])
        sample = synth.sample(rng)
        found = boxes_from_mask(sample.mask, margin=margin) if sample.label else []
        label = "manipulated" if found else "authentic"
        if not (out_dir / name).is_file():
            atomic_write_bytes(out_dir / name, encode_png(sample.rgb))
        labels.append(f"{name},{label},,{sample.kind if found else ''}")
        if found:
            boxes[name] = found
    atomic_write_bytes(out_dir / "labels.csv", ("\n".join(labels) + "\n").encode("utf-8"))
    write_box_csv(out_dir / "boxes.csv", boxes)
    return out_dir
