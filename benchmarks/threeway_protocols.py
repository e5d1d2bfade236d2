"""Protocols of the three-way benchmark on cached features (``benchmarks/threeway.py``).

    python benchmarks/threeway.py confound  --work WORK    # format-only classifier on the chain's output
    python benchmarks/threeway.py protocols --work WORK [--only ship,B] [--variants lr,teacher,students,full]
    python benchmarks/threeway.py ship      --work WORK    # train the shipped model -> weights/

Split of the training side: every picture's *group* (a prompt, a sheet, the picture itself) goes
to validation with probability 0.15 (sha1 of the group name); validation rows calibrate the
generated threshold (at most 2 % of the validation rows that are not generated called
generated) and nothing else. Test pictures are read as files (two native windows, features
averaged), never through the chain, and never used for training, calibration or choices.

Protocols (the generators held out are never trained on):

* ``ship``: trained on sd_tiles (two SD 1.5 fine-tunes), diffusiondb_pairs@train (SD 1.x) and
  every real / edited training source; tested on ``bingo_multigen`` (DALL-E 2, Midjourney and a
  Stable Diffusion not in training: 77 pictures each) against the held-out real photos
  (camera_native@val, diffusiondb_pairs@val reals, Debian mate / lxqt photos) and CASIA v1 @val.
* ``B``: generated = the Deliberate 2.0 tiles only; tested on the DreamShaper 3.2 tiles (their chain
  views) and on bingo.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threeway_pool import DRAWS, heldout_pool, training_pool

from imlforensic.models.features import build_extractor, sha256_of
from imlforensic.models.threeway import CLASSES, ThreewayConfig, ThreewayModel, save_threeway
from imlforensic.training.threeway import (
    TARGET_RATE,
    ThreewayTraining,
    calibrate,
    choose_head,
    decide,
    in_val,
    predict,
    train_threeway,
    validation_accuracy,
)
from imlforensic.training.threeway_data import FeatureCache, PoolItem, inference_key, view_key

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "teacher": dict(students=False),
    "students": dict(generalizers=False),
    "full": {},
    "full-long": dict(student_epochs=30, classifier_epochs=20),  # is the student stage undertrained?
}



def calibration_files(pool: list[PoolItem]) -> list[PoolItem]:
    """The validation pictures of the training side that are files (not synthetic edits), of the
    sources the shipped model trains on."""
    return [i for i in pool if in_val(i.group) and i.source not in ("synthetic", "bingo_multigen")]


def load(args: argparse.Namespace) -> dict:
    extractor = build_extractor(args.extractor, args.extractor_weights)
    cache = FeatureCache(args.work / "cache", extractor)
    rows, labels, groups, sources, meta = [], [], [], [], []
    for item in training_pool(args.data, args.work):
        for d in range(DRAWS.get(item.source, 1)):
            key = view_key(item, d)
            if key in cache:
                rows.append(key)
                labels.append(CLASSES.index(item.label))
                groups.append(item.group)
                sources.append(item.source)
                meta.append(item.meta | {"info": cache.info[cache.index[key]]})
    train = {
        "x": cache.rows(rows),
        "y": np.array(labels),
        "group": np.array(groups),
        "source": np.array(sources),
        "meta": meta,
    }
    tests = []
    for item in heldout_pool(args.data, args.work):
        key = inference_key(item.path, 2)
        if all(f"{key}/{i}" in cache for i in range(2)):
            tests.append((item, cache.rows([f"{key}/0", f"{key}/1"]).mean(0)))
    test = {
        "x": np.stack([r for _, r in tests]) if tests else np.zeros((0, cache.dim), np.float32),
        "y": np.array([CLASSES.index(i.label) for i, _ in tests]),
        "source": np.array([i.source for i, _ in tests]),
        "generator": np.array([i.meta.get("generator", "") for i, _ in tests]),
    }
    files = []
    for item in calibration_files(training_pool(args.data, args.work)):
        key = inference_key(item.path, 2)
        if all(f"{key}/{i}" in cache for i in range(2)):
            files.append((item, cache.rows([f"{key}/0", f"{key}/1"]).mean(0)))
    calib = {
        "x": np.stack([r for _, r in files]) if files else np.zeros((0, cache.dim), np.float32),
        "y": np.array([CLASSES.index(i.label) for i, _ in files], dtype=np.int64),
        "source": np.array([i.source for i, _ in files]),
        "meta": [i.meta for i, _ in files],
    }
    cache.close()
    return {"train": train, "test": test, "calib": calib, "layout": tuple(tuple(t) for t in extractor.layout)}


def protocol_rows(data: dict, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(train mask, val mask) over the training rows for protocol ``name``."""
    tr = data["train"]
    keep = tr["source"] != "bingo_multigen"
    if name == "B":
        finetune = np.array([m.get("finetune", "") for m in tr["meta"]])
        keep &= ~((tr["source"] == "sd_tiles") & (finetune != "deliberate"))
        keep &= ~((tr["source"] == "diffusiondb_pairs@train") & (tr["y"] == 2))
    val = np.array([in_val(g) for g in tr["group"]])
    return keep & ~val, keep & val


def test_sets(data: dict, name: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (features, labels) of every test set of the protocol."""
    te, tr = data["test"], data["train"]
    sets: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for generator in ("dalle", "midjourney", "stable-diffusion"):
        m = (te["source"] == "bingo_multigen") & np.char.startswith(te["generator"].astype(str), generator[:4])
        sets[f"bingo {generator}"] = (te["x"][m], te["y"][m])
    if name == "B":
        finetune = np.array([m.get("finetune", "") for m in tr["meta"]])
        m = (tr["source"] == "sd_tiles") & (finetune == "dreamshaper")
        sets["sd dreamshaper (chain views)"] = (tr["x"][m], tr["y"][m])
    for source, label, title in (
        ("camera_native@val", 0, "camera_native@val"),
        ("diffusiondb_pairs@val", 0, "diffusiondb@val reals"),
        ("wallpapers_heldout", 0, "mate/lxqt photos"),
        ("diffusiondb_pairs@val", 2, "diffusiondb@val generated (seen family)"),
        ("casia1@val", 0, "CASIA v1 @val authentic"),
        ("casia1@val", 1, "CASIA v1 @val edited"),
    ):
        m = (te["source"] == source) & (te["y"] == label)
        sets[title] = (te["x"][m], te["y"][m])
    return sets


def _auc(pos: np.ndarray, neg: np.ndarray) -> float | None:
    if len(pos) == 0 or len(neg) == 0:
        return None
    return float(roc_auc_score(np.r_[np.ones(len(pos)), np.zeros(len(neg))], np.r_[pos, neg]))


def evaluate(probs: dict[str, np.ndarray], threshold: float, unseen: list[str]) -> dict:
    called = {k: float((p[:, 2] >= threshold).mean()) if len(p) else None for k, p in probs.items()}
    photos = [k for k in probs if k.startswith(("camera", "diffusiondb@val reals", "mate"))]
    casia = [k for k in probs if k.startswith("CASIA")]
    gen = np.concatenate([probs[k][:, 2] for k in unseen])
    real = np.concatenate([probs[k][:, 2] for k in photos])
    neg = np.concatenate([real] + [probs[k][:, 2] for k in casia])
    # three-way decisions of the classifier alone on the test pictures
    truth = np.concatenate(
        [np.full(len(probs[k]), c) for c, ks in ((2, unseen), (0, photos + casia[:1]), (1, casia[1:])) for k in ks]
    )
    pred = np.concatenate([decide(probs[k], threshold) for ks in (unseen, photos + casia[:1], casia[1:]) for k in ks])
    confusion = [[int(((truth == a) & (pred == b)).sum()) for b in range(3)] for a in range(3)]
    recall = [confusion[a][a] / max(1, sum(confusion[a])) for a in range(3)]
    return {
        "threshold": threshold,
        "unseen_auc_vs_real_photos": _auc(gen, real),
        "unseen_auc_vs_all_heldout": _auc(gen, neg),
        "unseen_called": float((gen >= threshold).mean()),
        "real_photos_called": float((real >= threshold).mean()),
        "casia_called": float((np.concatenate([probs[k][:, 2] for k in casia]) >= threshold).mean()),
        "called": called,
        "per_set_auc_vs_real_photos": {k: _auc(probs[k][:, 2], real) for k in unseen},
        "confusion_test": confusion,
        "per_class_accuracy_test": dict(zip(CLASSES, recall)),
        "balanced_accuracy_test": float(np.mean(recall)),
    }



def run_variant(
    data: dict, name: str, variant: str, threads: int, log_path: Path, quick: bool = False
) -> tuple[dict, object, tuple[np.ndarray, np.ndarray]]:
    tr = data["train"]
    train_m, val_m = protocol_rows(data, name)
    sets = test_sets(data, name)
    unseen = [k for k in sets if k.startswith(("bingo", "sd dreamshaper"))]
    calib = data["calib"]
    keep = np.ones(len(calib["y"]), bool)
    if name == "B":
        finetune = np.array([m.get("finetune", "") for m in calib["meta"]])
        keep &= ~((calib["source"] == "sd_tiles") & (finetune != "deliberate")) & ~(
            (calib["source"] == "diffusiondb_pairs@train") & (calib["y"] == 2)
        )
    # calibration: the validation chain views and the validation pictures read as files
    xv = np.concatenate([tr["x"][val_m], calib["x"][keep]])
    yv = np.concatenate([tr["y"][val_m], calib["y"][keep]])
    started = time.process_time()
    if variant == "lr":
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=2000, class_weight="balanced"))
        clf.fit(tr["x"][train_m], tr["y"][train_m])
        pv = clf.predict_proba(xv)
        neg = np.sort(pv[yv != 2, 2])
        threshold = float(neg[len(neg) - 1 - int(TARGET_RATE * len(neg))])
        threshold = float(np.nextafter(threshold, 1.0))
        probs = {k: clf.predict_proba(x) if len(x) else np.zeros((0, 3)) for k, (x, _) in sets.items()}
        model: object = clf
    else:
        torch.set_num_threads(threads)
        config = ThreewayConfig(layout=data["layout"])
        training = dataclasses.replace(ThreewayTraining(), **VARIANTS[variant])
        if quick:  # a smoke run of the script, not a result
            training = dataclasses.replace(training, teacher_epochs=1, student_epochs=1, classifier_epochs=1)
        with open(log_path, "a") as log:

            def write(record: dict) -> None:
                log.write(json.dumps({"protocol": name, "variant": variant} | record) + "\n")
                log.flush()

            model = train_threeway(tr["x"][train_m], tr["y"][train_m], config, training, log=write)
        calibration = calibrate(model, xv, yv, TARGET_RATE)
        model.calibration = calibration  # type: ignore[attr-defined]
        threshold = calibration.generated_threshold
        pv = predict(model, xv)
        probs = {k: predict(model, x) for k, (x, _) in sets.items()}
    result = {"protocol": name, "variant": variant, "train_rows": int(train_m.sum()), "val_rows": int(val_m.sum())}
    result |= {"train_by_class": np.bincount(tr["y"][train_m], minlength=3).tolist()}
    result |= {"test_sizes": {k: len(x) for k, (x, _) in sets.items()}, "cpu_seconds": time.process_time() - started}
    result |= {"calibration_rows": int(len(yv)), "calibration_files": int(keep.sum())}
    result |= validation_accuracy(pv, yv, threshold) | evaluate(probs, threshold, unseen)
    return result, model, (xv, yv)



def cmd_protocols(args: argparse.Namespace, rest: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="ship,B")
    parser.add_argument("--variants", default="lr,teacher,students,full")
    parser.add_argument("--quick", action="store_true", help="one epoch per stage, results to results/quick.jsonl")
    opts = parser.parse_args(rest)
    data = load(args)
    out = args.work / "results"
    out.mkdir(parents=True, exist_ok=True)
    for name in opts.only.split(","):
        for variant in opts.variants.split(","):
            result, model, (xv, yv) = run_variant(
                data, name, variant, args.threads, out / "training_log.jsonl", opts.quick
            )
            with open(out / ("quick.jsonl" if opts.quick else "protocols.jsonl"), "a") as handle:
                handle.write(json.dumps(result) + "\n")
            print(json.dumps({k: result[k] for k in result if k not in ("called", "confusion_test")}), flush=True)
            if name == "ship" and variant == "full" and not opts.quick:
                weights = args.work / "threeway-lite0.safetensors"
                metadata = {"extractor": args.extractor, "views": 2, "chain": "v2n", "protocol": "ship"}
                if args.extractor_weights is not None:  # a user's backbone: where it is and what it is
                    metadata |= {"extractor_weights": str(args.extractor_weights)}
                    metadata |= {"extractor_weights_sha256": sha256_of(args.extractor_weights)}
                metadata |= {"training": {"rows": result["train_rows"], "by_class": result["train_by_class"]}}
                assert isinstance(model, ThreewayModel)
                model.calibration = choose_head(model, xv, yv, log=print)
                save_threeway(model, weights, metadata)
                print(f"saved {weights}", flush=True)


def _facts(info: dict) -> list[float]:
    w, h = info["width"], info["height"]
    container = info["container"]
    quality = info["quality"] if info["quality"] is not None else 100
    return [
        w,
        h,
        w / h,
        w * h,
        info["n_bytes"] / (w * h),
        quality,
        container == "JPEG",
        container == "WEBP",
        container == "PNG",
        info["subsampling"] == "4:2:0",
    ]


def cmd_confound(args: argparse.Namespace) -> None:
    """Format-only classifiers (grouped 5-fold CV) on the training rows after the chain."""
    data = load(args)
    tr = data["train"]
    x = np.array([_facts(m["info"]) for m in tr["meta"]], np.float64)
    y = tr["y"]
    cv = GroupKFold(5)
    result: dict = {"rows": int(len(y)), "by_class": np.bincount(y, minlength=3).tolist()}
    for title, clf in (
        ("gbt", HistGradientBoostingClassifier(max_iter=200, class_weight="balanced")),
        ("lr", make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced"))),
    ):
        p = cross_val_predict(clf, x, y, groups=tr["group"], cv=cv, method="predict_proba")
        recall = [float((p.argmax(1)[y == c] == c).mean()) for c in range(3)]
        result[title] = {
            "generated_vs_rest_auc": float(roc_auc_score(y == 2, p[:, 2])),
            "manipulated_vs_rest_auc": float(roc_auc_score(y == 1, p[:, 1])),
            "balanced_accuracy": float(np.mean(recall)),
        }
    native = np.array([m["info"]["native"] for m in tr["meta"]])
    factor = np.array([m["info"]["factor"] for m in tr["meta"]])
    result["native_share_by_class"] = [float(native[y == c].mean()) for c in range(3)]
    result["resampling_factor_auc_generated"] = float(roc_auc_score(y == 2, factor))
    out = args.work / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "confound.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


def cmd_timing(args: argparse.Namespace, rest: list[str]) -> None:
    """Seconds per 1-megapixel photo of ``mvcam`` alone and of ``threeway`` (classifier + mvcam)."""
    import cv2

    from imlforensic.io.images import decode_image_bytes
    from imlforensic.methods.base import Method
    from imlforensic.registry import REGISTRY

    torch.set_num_threads(args.threads)
    photo = sorted((args.data / "photos" / "camera_native" / "images").glob("*.jpg"))[0]
    rgb = cv2.imread(str(photo))[:, :, ::-1]
    rgb = cv2.resize(np.ascontiguousarray(rgb), (1224, 816), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    image = decode_image_bytes(data.tobytes(), Path("photo.jpg"))
    result: dict = {"photo": photo.name, "size": [1224, 816], "threads": args.threads}
    for name in ("mvcam", "threeway"):
        method = REGISTRY.load(name, "cpu", expect=Method)
        method.analyse(image)  # warm-up
        wall, cpu = [], []
        for _ in range(3):
            w0, c0 = time.perf_counter(), time.process_time()
            out = method.analyse(image)
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
        result[name] = {"wall_s": float(np.median(wall)), "cpu_s": float(np.median(cpu))}
        if name == "threeway":
            result[name]["classifier_wall_s"] = out.details["classifier_seconds"]
    print(json.dumps(result, indent=1))
    (args.work / "results" / "timing.json").write_text(json.dumps(result, indent=1))


def run_command(args: argparse.Namespace, rest: list[str]) -> None:
    if args.command == "confound":
        cmd_confound(args)
    elif args.command == "timing":
        cmd_timing(args, rest)
    else:
        cmd_protocols(args, rest)
