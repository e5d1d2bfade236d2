"""Training pictures of the three-way classifier and their cached features.

A *pool* is a list of :class:`PoolItem`: pictures of labelled folders (``labels.csv`` saying
``authentic``, ``manipulated`` or ``generated``; ``FOLDER@train`` for the fixed half) and
partially edited pictures synthesised from authentic photos (``--synthesize-from``):

* ``generated_splice``: a region of a generated picture of the training folders blended into a
  photo (object-like shape, feathered, colour-matched; :func:`generated_blend`);
* ``removal``: an object-shaped region filled by OpenCV inpainting (Telea or Navier-Stokes);
* ``splice`` (a region of another photo), ``copymove``, ``retouch``, ``double_jpeg``: the
  localizer's synthetic edits (:mod:`imlforensic.training.synth`).

Every picture of every class then goes through the same normalisation chain
(:func:`imlforensic.training.chain.normalise`), ``draws`` times with different seeds, and the
extractor reads one 256 px window of each draw (:func:`imlforensic.training.chain.training_view`).

Features are extracted once and cached (:class:`FeatureCache`): a folder per extractor and chain
version holding ``features.f16`` (one float16 row per view) and ``index.jsonl`` (the row's key and
what the chain did). Extraction is the expensive part (about 70 ms per view on two idle CPU cores);
a killed run resumes where it stopped, and experiments on cached features take seconds.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from imlforensic.data.splits import load_split, parse_spec
from imlforensic.io.hashing import sha256_file
from imlforensic.io.images import ImageLoadError, load_image
from imlforensic.models.features import FeatureExtractor
from imlforensic.training import synth
from imlforensic.training.chain import CHAIN_VERSION, inference_views, normalise, rng_for, training_view

LABELS = ("authentic", "manipulated", "generated")
SYNTH_KINDS = {
    "generated_splice": 0.35,
    "removal": 0.2,
    "splice": 0.2,
    "copymove": 0.1,
    "retouch": 0.1,
    "double_jpeg": 0.05,
}
WORK_SIDE = 1024
"""Edits are made on a native-resolution window of at most this short side of a large photo."""


@dataclass
class PoolItem:
    key: str  # stable across machines: dataset folder name / image path, or synth:SEED:N
    label: str  # authentic | manipulated | generated
    source: str  # the dataset spec's name (folder, with @train / @val) or "synthetic"
    group: str  # unit of grouped splits: a prompt, a sheet, or the picture itself
    path: str  # the image file (the host photo for synthetic edits)
    meta: dict[str, str] = field(default_factory=dict)  # labels.csv's other columns; synthetic: kind, donor


def _extras(root: Path) -> dict[str, dict[str, str]]:
    """labels.csv's columns beyond image,label,mask,kind, by image file name."""
    path = root / "labels.csv"
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    known = {"image", "label", "mask", "kind"}
    return {Path(r["image"]).name: {k: v for k, v in r.items() if k not in known and v} for r in rows if r.get("image")}


def dataset_items(spec: str) -> list[PoolItem]:
    """The pictures of a labelled dataset spec (``FOLDER``, ``FOLDER@train`` or ``FOLDER@val``)."""
    root, part = parse_spec(spec)
    source = root.name + (f"@{part}" if part else "")
    extras = _extras(root)
    items = []
    for sample in load_split(spec):
        meta = extras.get(sample.name, {})
        key = f"{root.name}/{sample.image.relative_to(root).as_posix()}"
        if meta.get("prompt_id"):
            group = f"{root.name}:prompt:{meta['prompt_id']}"
        elif meta.get("sheet"):
            group = f"{root.name}:sheet:{meta['sheet']}"
        else:
            group = key
        items.append(PoolItem(key, sample.label, source, group, str(sample.image), meta))
    return items


def synthetic_items(photos: list[Path], donors: list[PoolItem], count: int, seed: int = 0) -> list[PoolItem]:
    """``count`` partially edited pictures made from ``photos`` (hosts and photo donors) and
    ``donors`` (generated pictures for ``generated_splice``), drawn deterministically from ``seed``."""
    if not photos:
        raise ValueError("no photos to synthesize edits from")
    kinds = list(SYNTH_KINDS)
    weights = np.array([SYNTH_KINDS[k] for k in kinds])
    if not donors:  # no generated pictures given: only classical edits
        weights[kinds.index("generated_splice")] = 0.0
    weights = weights / weights.sum()
    rng = rng_for(f"synthetic:{seed}")
    items = []
    for index in range(count):
        kind = kinds[int(rng.choice(len(kinds), p=weights))]
        host = photos[int(rng.integers(len(photos)))]
        if kind == "generated_splice":
            donor = donors[int(rng.integers(len(donors)))].path
        elif kind == "splice":
            donor = str(photos[int(rng.integers(len(photos)))])
        else:
            donor = ""
        key = f"synth:{seed}:{index}"
        items.append(PoolItem(key, "manipulated", "synthetic", key, str(host), {"kind": kind, "donor": donor}))
    return items


def _window(rgb: np.ndarray, rng: np.random.Generator, side: int = WORK_SIDE) -> np.ndarray:
    h, w = rgb.shape[:2]
    if min(h, w) <= side:
        return rgb
    short = int(rng.integers(side // 2, side + 1))
    scale = short / min(h, w)
    ch, cw = int(round(h * scale)), int(round(w * scale))
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    return np.ascontiguousarray(rgb[y : y + ch, x : x + cw])


def synthesise(item: PoolItem) -> np.ndarray:
    """The edited picture of a synthetic item (deterministic for its key)."""
    rng = rng_for(item.key, "edit")
    host = _window(load_image(item.path).rgb, rng)
    kind = item.meta["kind"]
    for _ in range(4):
        if kind in ("generated_splice", "splice"):
            donor = _window(load_image(item.meta["donor"]).rgb, rng)
            edit = generated_blend if kind == "generated_splice" else _photo_splice
            edited, mask = edit(host, donor, rng)
        else:
            edits = {
                "removal": synth.removal,
                "copymove": synth.copy_move,
                "retouch": synth.retouch,
                "double_jpeg": synth.double_jpeg,
            }
            edited, mask = edits[kind](host, rng)
        if mask.sum() >= 32:
            return edited
    return edited  # four tries changed almost nothing: the picture still carries the edit attempt


def generated_blend(host: np.ndarray, donor: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A region of a *generated* picture blended into a real photo: an object-like shape, always
    feathered (Gaussian sigma 1.5-5 px) and colour-matched; ``donor`` is enlarged to cover the host
    first. (The cached features of the shipped model were made with this function; the
    localizer's own version is :data:`imlforensic.training.synth.GENERATED_KIND`.)"""
    import cv2

    h, w = host.shape[:2]
    factor = max(h / donor.shape[0], w / donor.shape[1])
    if factor > 1:
        size = (int(np.ceil(donor.shape[1] * factor)), int(np.ceil(donor.shape[0] * factor)))
        donor = cv2.resize(donor, size, interpolation=cv2.INTER_CUBIC)
    y = int(rng.integers(0, donor.shape[0] - h + 1))
    x = int(rng.integers(0, donor.shape[1] - w + 1))
    donor = np.ascontiguousarray(donor[y : y + h, x : x + w])
    shape = synth.random_shape(donor, rng, (0.04, 0.3))
    dy, dx = synth._place(shape, rng)
    patch, shape = synth._shift(donor, dy, dx), synth._shift(shape, dy, dx)
    if shape.sum() < 64:
        shape = synth.ellipse_shape(host.shape[:2], rng, 0.08)
        patch = donor
    patch = synth._match_colour(patch, shape, host)
    alpha = cv2.GaussianBlur(shape.astype(np.float32), (0, 0), rng.uniform(1.5, 5.0))
    return synth._blend(host, patch, alpha)


def _photo_splice(host: np.ndarray, donor: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    donor = cv2.resize(donor, (host.shape[1], host.shape[0]), interpolation=cv2.INTER_AREA)
    return synth.splice(host, donor, rng)


def picture(item: PoolItem) -> np.ndarray:
    """The picture an item stands for, before the chain."""
    if item.source == "synthetic":
        return synthesise(item)
    return load_image(item.path).rgb


class CacheMismatchError(ValueError):
    """The cache folder was made by another extractor or chain version."""


class FeatureCache:
    """Append-only cache of one float16 row per view (see the module docstring)."""

    def __init__(self, folder: Path, extractor: FeatureExtractor) -> None:
        self.folder = Path(folder) / f"{extractor.spec.cache_id}-{CHAIN_VERSION}"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.extractor = extractor
        self.dim = extractor.dim
        spec: dict[str, object] = {"extractor": extractor.spec.name, "weights_sha256": extractor.spec.weights_sha256}
        spec |= {"chain": CHAIN_VERSION, "dim": self.dim, "layout": extractor.layout}
        spec_path = self.folder / "spec.json"
        if spec_path.is_file():
            found = json.loads(spec_path.read_text())
            if found != json.loads(json.dumps(spec)):
                raise CacheMismatchError(f"{self.folder}: made for {found}, not {spec}")
        else:
            spec_path.write_text(json.dumps(spec, indent=1))
        self.index: dict[str, int] = {}
        self.info: list[dict] = []
        index_path = self.folder / "index.jsonl"
        if index_path.is_file():
            for line in index_path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    break  # a line cut by a kill: everything after it is redone
                self.index[entry["key"]] = len(self.info)
                self.info.append(entry)
        features = self.folder / "features.f16"
        row = self.dim * 2
        if features.is_file() and features.stat().st_size != len(self.info) * row:
            if features.stat().st_size < len(self.info) * row:  # index ahead of the data: drop the tail
                keep = features.stat().st_size // row
                self.info = self.info[:keep]
                self.index = {e["key"]: i for i, e in enumerate(self.info)}
            os.truncate(features, len(self.info) * row)
        index_path.write_text("".join(json.dumps(e) + "\n" for e in self.info))
        self._features = open(features, "ab")
        self._index = open(index_path, "a")

    def __contains__(self, key: str) -> bool:
        return key in self.index

    def add(self, keys: list[str], rows: np.ndarray, infos: list[dict]) -> None:
        self._features.write(np.asarray(rows, dtype=np.float16).tobytes())
        self._features.flush()
        for key, info in zip(keys, infos):
            self.index[key] = len(self.info)
            entry = {"key": key} | info
            self.info.append(entry)
            self._index.write(json.dumps(entry) + "\n")
        self._index.flush()

    def rows(self, keys: Iterable[str]) -> np.ndarray:
        data = np.memmap(self.folder / "features.f16", dtype=np.float16, mode="r", shape=(len(self.info), self.dim))
        return np.asarray(data[[self.index[k] for k in keys]], dtype=np.float32)

    def close(self) -> None:
        self._features.close()
        self._index.close()


def view_key(item: PoolItem, draw: int) -> str:
    return f"{item.key}#{draw}"


def extract_training(
    items: list[PoolItem], draws: dict[str, int], cache: FeatureCache, batch: int = 16, show_progress: bool = True
) -> list[str]:
    """Make sure every item's ``draws[item.source]`` chain views are cached; the failures' keys."""
    todo = [(item, d) for item in items for d in range(draws.get(item.source, 1)) if view_key(item, d) not in cache]
    failed: list[str] = []
    bar = tqdm(total=len(todo), desc="features", unit="view", disable=not show_progress, file=sys.stderr)
    pending: tuple[list[str], list[np.ndarray], list[dict]] = ([], [], [])
    by_item: dict[str, list[int]] = {}
    for item, d in todo:
        by_item.setdefault(item.key, []).append(d)
    lookup = {item.key: item for item, _ in todo}
    for key, item_draws in by_item.items():
        item = lookup[key]
        try:
            rgb = picture(item)
        except (ImageLoadError, OSError, ValueError) as exc:
            failed.append(f"{item.path}: {exc}")
            bar.update(len(item_draws))
            continue
        for d in item_draws:
            vkey = view_key(item, d)
            out, info = normalise(rgb, vkey)
            pending[0].append(vkey)
            pending[1].append(training_view(out, vkey))
            pending[2].append({"label": item.label, "source": item.source} | info.as_dict())
            if len(pending[0]) >= batch:
                cache.add(pending[0], cache.extractor(np.stack(pending[1])), pending[2])
                bar.update(len(pending[0]))
                pending = ([], [], [])
    if pending[0]:
        cache.add(pending[0], cache.extractor(np.stack(pending[1])), pending[2])
        bar.update(len(pending[0]))
    bar.close()
    return failed


def inference_key(path: Path | str, views: int) -> str:
    return f"infer{views}:{sha256_file(Path(path))}"


def extract_inference(
    paths: list[str],
    cache: FeatureCache,
    views: int = 2,
    show_progress: bool = True,
    failed: list[str] | None = None,
) -> dict[str, str]:
    """Cache the inference views' features (as the classifier reads a file); path -> row key.
    With ``failed``, a file that cannot be read is left out (and its message appended) instead of
    stopping the run."""
    keys: dict[str, str] = {}
    for path in tqdm(paths, desc="file features", unit="img", disable=not show_progress, file=sys.stderr):
        try:
            key = inference_key(path, views)
            if all(f"{key}/{i}" in cache for i in range(views)):
                keys[path] = key
                continue
            stack = inference_views(load_image(path).rgb, views)
        except (ImageLoadError, OSError, ValueError) as exc:
            if failed is None:
                raise
            failed.append(f"{path}: {exc}")
            continue
        keys[path] = key
        cache.add([f"{key}/{i}" for i in range(views)], cache.extractor(stack), [{} for _ in range(views)])
    return keys
