"""Choose mvcam's sel fusion weight, cap and calibrated decision on training-side material only.

    python benchmarks/calibrate_decision.py collect --data ../shared/data --work runs/decision \
        --wallpapers runs/wallpapers --renders runs/wallpapers/x-renders --parts 2 --part 0   # and --part 1
    python benchmarks/calibrate_decision.py fit --work runs/decision

``--weights FILE`` (both stages) reads another checkpoint's network instead of the shipped one:
how a retrained network gets its decision before it is installed.

``collect`` runs the shipped network, the sel view and the copy-move view once per picture and
keeps their maps (reduced to a longer side of 640 px, float16) in ``WORK/*.pkl``:

* authentic pictures at their own size, of the kinds the training may use (docs/wild-benchmark.md,
  held-out policy): 15 each of ``photos/bsds500``, ``photos/hymenoptera``, ``photos/dogs_vs_cats``;
  the 22 Debian wallpaper photos of ``lomiri-wallpapers-16.04`` and ``plasma-workspace-wallpapers``
  (up to 16 MP); the renders of ``lomiri-wallpapers-20.04``, ``ukui-wallpapers`` and
  ``gnome-backgrounds`` up to 8 MP; 20 tiles of ``generated/sd_sheets``; 40 pictures of
  ``dev/casia1@train`` (image labels only);
* 160 synthetic samples of 768 x 1024 from imlforensic.training.synth (about half edited, with
  generated-content blends, through the shared sharing chain).

``fit`` scores every combination of sel weight and cap: the threshold ``t`` is the one at which
at most 5 % of the authentic pictures (both groups) are flagged; the mean pixel F1 of the
synthetic edits at ``t`` and their image AUC say what the combination costs. The chosen
combination gets the logistic slope ``a`` of ``label ~ a * (logit(score) - logit(t))`` fitted on
the same pictures (the calibrated score of imlforensic.methods.mvcam). Nothing here reads the
wild benchmark's pictures or CASIA's held-out half.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import pickle
import random
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from imlforensic.data.splits import load_split
from imlforensic.io.images import ImageLoadError, load_image
from imlforensic.maps import binarize, pool_score
from imlforensic.methods.mvcam import LearnedLocalizer
from imlforensic.metrics import pixel
from imlforensic.registry import REGISTRY
from imlforensic.training.synth import EditSynthesizer
from imlforensic.training.trainer import list_photos
from imlforensic.views.calibration import raw_anomaly
from imlforensic.views.copy_move import CopyMoveResult, CopyPair, find_copies

SIDE = 640
MAX_RENDER_PIXELS = 8e6
FALSE_ALARMS = 0.05
WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
CAPS = (1.0, 2.0, 3.0, float("inf"))


def _reduced(array: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return cv2.resize(array.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_AREA).astype(np.float16)


def _small(h: int, w: int) -> tuple[int, int]:
    scale = min(1.0, SIDE / max(h, w))
    return max(8, round(h * scale)), max(8, round(w * scale))


def parts_of(method: LearnedLocalizer, rgb: np.ndarray, table: np.ndarray | None) -> dict[str, Any]:
    """The network's logits (after the background shift), the raw sel anomaly and the copy pairs."""
    logits = method.logit_map(rgb, table)
    if method.background is not None:
        logits = logits - max(0.0, float(np.median(logits)) - method.background)
    anomaly, copies = raw_anomaly(rgb, "sel"), find_copies(rgb)
    shape = _small(*rgb.shape[:2])
    return {
        "net": _reduced(logits, shape),
        "sel": _reduced(anomaly, shape),
        "pairs": [(_reduced(p.source, shape), _reduced(p.target, shape)) for p in copies.pairs],
    }


def authentic_list(data: Path, wallpapers: Path, renders: Path, sd_tiles: Path) -> list[tuple[str, Path, int]]:
    rng = random.Random(0)

    def pick(paths: list[Any], n: int) -> list[Any]:
        paths = sorted(paths, key=str)
        rng.shuffle(paths)
        return paths[:n]

    items = [
        (name, p, 0)
        for name in ("bsds500", "hymenoptera", "dogs_vs_cats")
        for p in pick(list_photos([data / "photos" / name]), 15)
    ]
    share = wallpapers / "x" / "usr" / "share"
    items += [("wallpaper", p, 0) for p in sorted((share / "backgrounds").glob("*_by_*.jpg"))]
    items += [("wallpaper", p, 0) for p in sorted((share / "wallpapers").glob("*/contents/images/1920x1080.jpg"))]
    items += [("render", p, 0) for p in sorted(renders.rglob("*")) if p.suffix.lower() in (".jpg", ".png", ".webp")]
    items += [("sd", p, 0) for p in pick(list(sd_tiles.glob("*.png")), 20)]
    items += [
        ("casia_train_" + s.label, s.image, int(s.label == "manipulated"))
        for s in pick(load_split(str(data / "dev/casia1@train")), 40)
    ]
    return items


def _localizer(args: argparse.Namespace) -> LearnedLocalizer:
    """The mvcam localizer whose network is calibrated: the shipped one, or ``--weights``."""
    entry = REGISTRY.with_weights("mvcam", args.weights) if args.weights else "mvcam"
    return REGISTRY.load(entry, "cpu", expect=LearnedLocalizer)


def collect(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    method = _localizer(args)
    args.work.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    if args.synthetic:
        out = args.work / "synthetic.pkl"
        photos = list_photos(
            [args.data / "photos" / n for n in ("bsds500", "hymenoptera", "dogs_vs_cats")] + [args.wallpapers / "tiles"]
        )
        synth = EditSynthesizer(photos, size=(768, 1024), donors=list_photos([args.sd_tiles]))
        for i in range(args.synthetic):
            sample = synth.sample(np.random.default_rng([7, i]))
            row = parts_of(method, sample.rgb, sample.luma_table)
            shape = _small(*sample.rgb.shape[:2])
            row.update(group="synthetic", kind=sample.kind, label=sample.label, mask=_reduced(sample.mask, shape) > 0.5)
            rows.append(row)
    else:
        out = args.work / f"authentic-{args.part}.pkl"
        for group, path, label in authentic_list(args.data, args.wallpapers, args.renders, args.sd_tiles)[
            args.part :: args.parts
        ]:
            try:
                image = load_image(path)
            except ImageLoadError as exc:
                print(f"skipped {path}: {exc}")
                continue
            if group == "render" and image.rgb.shape[0] * image.rgb.shape[1] > MAX_RENDER_PIXELS:
                continue
            row = parts_of(method, image.rgb, image.luma_table)
            row.update(group=group, path=str(path), label=label)
            rows.append(row)
            print(len(rows), group, path.name, flush=True)
    with out.open("wb") as handle:
        pickle.dump(rows, handle)


def fusion_of(method: LearnedLocalizer, weight: float, cap: float) -> LearnedLocalizer:
    """``method`` with another sel weight and cap, without a decision or a background shift (the
    cached network logits are already shifted): its :meth:`read_logits` is the fusion to score."""
    fusion = copy.copy(method)
    fusion.sel_weight, fusion.sel_cap, fusion.decision, fusion.background = weight, cap, None, None
    return fusion


def fused_map(fusion: LearnedLocalizer, row: dict[str, Any]) -> np.ndarray:
    """mvcam's fused probability map from the cached parts (no pixels needed: the views are given)."""
    net = row["net"].astype(np.float32)
    pairs = [CopyPair(np.eye(2, 3), 0, 0.0, s.astype(np.float32), t.astype(np.float32)) for s, t in row["pairs"]]
    copies = CopyMoveResult(shape=net.shape, pairs=pairs)
    return fusion.read_logits(net, np.empty((0, 0, 3), np.uint8), copies, row["sel"].astype(np.float32))[0]


def score_combination(
    method: LearnedLocalizer, synthetic: list[dict], authentic: list[dict], weight: float, cap: float
) -> dict[str, Any]:
    fusion = fusion_of(method, weight, cap)
    syn_maps = [fused_map(fusion, r) for r in synthetic]
    syn_scores = np.array([pool_score(m) for m in syn_maps])
    syn_labels = np.array([r["label"] for r in synthetic])
    auth_scores = np.array([pool_score(fused_map(fusion, r)) for r in authentic])
    auth_labels = np.array([r["label"] for r in authentic])
    negatives = np.concatenate([syn_scores[syn_labels == 0], auth_scores[auth_labels == 0]])
    threshold = float(np.quantile(negatives, 1.0 - FALSE_ALARMS))
    f1 = [
        pixel.f1_score(r["mask"], binarize(m, threshold))
        for r, m in zip(synthetic, syn_maps)
        if r["label"] == 1 and r["mask"].any()
    ]
    groups = sorted({r["group"] for r in authentic if r["label"] == 0})
    casia = np.array([r["group"].startswith("casia") for r in authentic])
    return {
        "sel_weight": weight,
        "sel_cap": cap,
        "threshold": round(threshold, 4),
        "false_alarms": round(float((negatives >= threshold).mean()), 3),
        "synthetic_pixel_f1": round(float(np.mean(f1)), 3),
        "synthetic_image_auc": round(float(roc_auc_score(syn_labels, syn_scores)), 3),
        "casia_train_image_auc": round(float(roc_auc_score(auth_labels[casia], auth_scores[casia])), 3)
        if len(set(auth_labels[casia])) == 2
        else 0.0,
        "flagged_at_0.5": {
            g: round(float((auth_scores[[r["group"] == g for r in authentic]] >= 0.5).mean()), 2) for g in groups
        },
        "flagged_at_t": {
            g: round(float((auth_scores[[r["group"] == g for r in authentic]] >= threshold).mean()), 2) for g in groups
        },
        "_scores": (np.concatenate([syn_scores, auth_scores]), np.concatenate([syn_labels, auth_labels])),
    }


def fit(args: argparse.Namespace) -> None:
    with (args.work / "synthetic.pkl").open("rb") as handle:
        synthetic = pickle.load(handle)
    authentic = []
    for path in sorted(args.work.glob("authentic-*.pkl")):
        with path.open("rb") as handle:
            authentic += pickle.load(handle)
    method = _localizer(args)
    results = [score_combination(method, synthetic, authentic, w, c) for w, c in itertools.product(WEIGHTS, CAPS)]
    shipped = score_combination(method, synthetic, authentic, 1.0, float("inf"))
    # best pixel F1 at the 5 % operating point; ties (within 0.005) go to the higher image AUC
    best_f1 = max(r["synthetic_pixel_f1"] for r in results)
    chosen = max(
        (r for r in results if r["synthetic_pixel_f1"] >= best_f1 - 0.005),
        key=lambda r: (r["synthetic_image_auc"] + r["casia_train_image_auc"], -r["sel_weight"]),
    )
    scores, labels = chosen.pop("_scores")
    t = chosen["threshold"]
    z = np.log(np.clip(scores, 1e-6, 1 - 1e-6) / np.clip(1 - scores, 1e-6, 1)) - np.log(t / (1 - t))
    slope = float(LogisticRegression(fit_intercept=False, C=1e6).fit(z[:, None], labels).coef_[0, 0])
    for r in results + [shipped]:
        r.pop("_scores", None)
    print(f"{len(synthetic)} synthetic samples, {len(authentic)} authentic pictures")
    for r in results:
        print(json.dumps(r))
    print("shipped fusion at 0.5:", json.dumps(shipped))
    print("chosen:", json.dumps(chosen), "slope", round(slope, 3))
    (args.work / "decision.json").write_text(
        json.dumps({"chosen": chosen, "slope": slope, "all": results, "shipped": shipped}, indent=1)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=("collect", "fit"))
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--work", type=Path, default=Path("runs/decision"))
    parser.add_argument(
        "--wallpapers", type=Path, default=Path("runs/wallpapers"), help="scripts/train_default.py --wallpapers"
    )
    parser.add_argument("--renders", type=Path, default=Path("runs/wallpapers/deb-renders/x/usr/share/backgrounds"))
    parser.add_argument("--sd-tiles", type=Path, default=Path("runs/wallpapers/sd-tiles"))
    parser.add_argument("--synthetic", type=int, default=0, help="collect this many synthetic samples instead")
    parser.add_argument("--weights", type=Path, help="a checkpoint to calibrate instead of the shipped network")
    parser.add_argument("--parts", type=int, default=1)
    parser.add_argument("--part", type=int, default=0)
    args = parser.parse_args()
    collect(args) if args.stage == "collect" else fit(args)


if __name__ == "__main__":
    main()
