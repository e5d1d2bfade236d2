"""The picture pool of the three-way benchmark (docs/BENCHMARKS.md, "Three-way classifier"): which folders, which
halves, how many chain draws, and the held-out test sets. Used by ``benchmarks/threeway.py``.

    python benchmarks/threeway.py prepare --work WORK      # tiles, wallpapers -> WORK/data
    python benchmarks/threeway.py extract --work WORK      # features -> WORK/cache (resumable)

Training side (chain views): the SD 1.5 sheets cut into tiles (two tiles per sheet, with the
sheet's fine-tune), the ``@train`` halves of ``diffusiondb_pairs`` (generated and real),
``bingo_multigen`` (three generators; the benchmark splits it by prompt), BSDS500, hymenoptera,
``dogs_vs_cats@train``, ``dev/casia1@train`` (authentic and edited), ``photos/camera_native@train``,
the Debian wallpapers that may be trained on (lomiri 16.04 / 20.04, plasma, gnome, ukui: photos
and rendered graphics) and 450 synthetic edits of those photos (hymenoptera capped at 200 pictures, dogs_vs_cats@train at 250).

Held out (inference views of the files as delivered): ``camera_native@val``,
``diffusiondb_pairs@val``, the mate-backgrounds nature photos and the lxqt-themes photos (never
trained on), ``dev/casia1@val``; and ``bingo_multigen`` for the protocols that hold a generator out.
"""

from __future__ import annotations

import csv
import hashlib
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

from imlforensic.training.threeway_data import PoolItem, dataset_items, synthetic_items

HERE = Path(__file__).resolve().parent
FINETUNES = HERE / "data" / "sd_finetune.csv"
TRAIN_DEBS = ("lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04", "lomiri-wallpapers", "plasma-workspace-wallpapers")
TRAIN_DEBS += ("gnome-backgrounds", "ukui-wallpapers")
HELDOUT_DEBS = ("mate-backgrounds", "lxqt-themes")
LXQT_PHOTOS = ("Butterfly-Kenneth-Wimer.jpg", "after-the-rain.jpg", "appleflower.png", "beam.png", "butterfly.png")
LXQT_PHOTOS += ("cloud.png", "drop.png", "flowers.png", "fog.jpg")
N_SYNTHETIC = 450
# at most this many pictures of a folder (the first by sha1 of the key; CPU time of this machine)
CAPS = {"hymenoptera": 200, "dogs_vs_cats@train": 250}

# chain draws per training folder (small folders get more draws, each a different crop and encoding)
DRAWS = {
    "sd_tiles": 1,
    "diffusiondb_pairs@train": 4,
    "bingo_multigen": 1,
    "bsds500": 1,
    "hymenoptera": 1,
    "dogs_vs_cats@train": 1,
    "casia1@train": 1,
    "camera_native@train": 8,
    "wallpapers_train": 3,
    "synthetic": 1,
}


def _write_labels(folder: Path, rows: list[dict]) -> None:
    fields = list(rows[0])
    with open(folder / "labels.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fields)
        writer.writeheader()
        writer.writerows(rows)


def cut_tiles(data: Path, out: Path, per_sheet: int = 2) -> None:
    """Two of the four 512 px generations of every sheet, as PNG (the decoded WebP pixels), with
    the sheet and its fine-tune (``deliberate`` / ``dreamshaper`` / ``unknown``)."""
    if (out / "labels.csv").is_file():
        return
    (out / "images").mkdir(parents=True, exist_ok=True)
    with open(FINETUNES, newline="") as handle:
        finetune = {
            r["image"]: r["finetune"] for r in csv.DictReader(line for line in handle if not line.startswith("#"))
        }
    sheets = data / "generated" / "sd_sheets"
    tiles: dict[str, list[tuple[int, ...]]] = {}
    with open(sheets / "tiles.csv", newline="") as handle:
        for r in csv.DictReader(handle):
            tiles.setdefault(r["image"], []).append(tuple(int(r[k]) for k in ("x0", "y0", "x1", "y1")))
    rows = []
    for i, (image, boxes) in enumerate(sorted(tiles.items())):
        order = np.random.default_rng(1000 + i).permutation(len(boxes))[:per_sheet]
        sheet = Image.open(sheets / image).convert("RGB")
        for t in order:
            name = f"{Path(image).stem}_t{t}.png"
            sheet.crop(boxes[t]).save(out / "images" / name)
            rows.append(
                {
                    "image": f"images/{name}",
                    "label": "generated",
                    "mask": "",
                    "kind": "generated",
                    "sheet": Path(image).stem,
                    "finetune": finetune.get(Path(image).name, "unknown"),
                }
            )
    _write_labels(out, rows)


def debian_tree(work: Path, packages: tuple[str, ...]) -> Path:
    """``apt-get download`` + ``dpkg -x`` of the packages into WORK/deb (skipped when there)."""
    deb = work / "deb"
    deb.mkdir(parents=True, exist_ok=True)
    missing = [p for p in packages if not list(deb.glob(f"{p}_*.deb"))]
    if missing:
        subprocess.run(["apt-get", "download", *missing], cwd=deb, check=True)
    for package in packages:
        target = deb / "x" / package
        if not target.is_dir():
            target.parent.mkdir(parents=True, exist_ok=True)
            (debfile,) = deb.glob(f"{package}_*.deb")
            subprocess.run(["dpkg", "-x", str(debfile), str(target)], check=True)
    return deb / "x"


def collect_wallpapers(work: Path) -> None:
    tree = debian_tree(work, TRAIN_DEBS + HELDOUT_DEBS)
    train: list[tuple[Path, str]] = []
    plasma = tree / "plasma-workspace-wallpapers" / "usr/share/wallpapers"
    for folder in sorted(plasma.iterdir()):
        pictures = [p for p in (folder / "contents" / "images").glob("*") if p.suffix.lower() in (".jpg", ".png")]
        if pictures:
            best = max(pictures, key=lambda p: Image.open(p).size[0] * Image.open(p).size[1])
            train.append((best, f"plasma-workspace-wallpapers__{folder.name}{best.suffix}"))
    for package in ("lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04", "lomiri-wallpapers"):
        for p in sorted((tree / package / "usr/share/backgrounds").glob("*")):
            if p.suffix.lower() in (".jpg", ".png"):
                train.append((p, f"{package}__{p.name}"))
    for p in sorted((tree / "gnome-backgrounds" / "usr/share/backgrounds/gnome").glob("*.webp")):
        train.append((p, f"gnome-backgrounds__{p.name}"))
    for p in sorted((tree / "ukui-wallpapers").rglob("*")):
        if p.suffix.lower() in (".jpg", ".png", ".jpeg"):
            train.append((p, f"ukui-wallpapers__{p.name}"))
    held = [(p, f"mate-backgrounds__{p.name}") for p in sorted((tree / "mate-backgrounds").rglob("nature/*.jpg"))]
    lxqt = tree / "lxqt-themes" / "usr/share/lxqt/wallpapers"
    held += [(lxqt / name, f"lxqt-themes__{name}") for name in LXQT_PHOTOS]
    for name, pictures in (("wallpapers_train", train), ("wallpapers_heldout", held)):
        folder = work / "data" / name
        if (folder / "labels.csv").is_file():
            continue
        (folder / "images").mkdir(parents=True, exist_ok=True)
        rows = []
        for source, target in pictures:
            if min(Image.open(source).size) < 256:
                continue
            (folder / "images" / target).write_bytes(source.read_bytes())
            package = target.split("__")[0]
            rows.append({"image": f"images/{target}", "label": "authentic", "mask": "", "kind": "", "package": package})
        _write_labels(folder, rows)


def prepare(data: Path, work: Path) -> None:
    cut_tiles(data, work / "data" / "sd_tiles")
    collect_wallpapers(work)


def training_specs(data: Path, work: Path) -> list[str]:
    d = str(data)
    return [
        f"{work}/data/sd_tiles",
        f"{d}/generated/diffusiondb_pairs@train",
        f"{d}/generated/bingo_multigen",
        f"{d}/photos/bsds500",
        f"{d}/photos/hymenoptera",
        f"{d}/photos/dogs_vs_cats@train",
        f"{d}/dev/casia1@train",
        f"{d}/photos/camera_native@train",
        f"{work}/data/wallpapers_train",
    ]


def heldout_specs(data: Path, work: Path) -> list[str]:
    d = str(data)
    return [
        f"{d}/photos/camera_native@val",
        f"{d}/generated/diffusiondb_pairs@val",
        f"{work}/data/wallpapers_heldout",
        f"{d}/dev/casia1@val",
        f"{d}/generated/bingo_multigen",
    ]


def training_pool(data: Path, work: Path) -> list[PoolItem]:
    items: list[PoolItem] = []
    for spec in training_specs(data, work):
        found = dataset_items(spec)
        cap = CAPS.get(found[0].source) if found else None
        if cap is not None:
            found = sorted(found, key=lambda i: hashlib.sha1(i.key.encode()).hexdigest())[:cap]
        items += found
    hosts = [Path(i.path) for i in items if i.label == "authentic" and i.source != "diffusiondb_pairs@train"]
    donors = [
        i
        for i in items
        if (i.source == "sd_tiles" and i.meta.get("finetune") == "deliberate")
        or (i.source == "diffusiondb_pairs@train" and i.label == "generated")
    ]
    return items + synthetic_items(hosts, donors, N_SYNTHETIC, seed=17)


def heldout_pool(data: Path, work: Path) -> list[PoolItem]:
    items: list[PoolItem] = []
    for spec in heldout_specs(data, work):
        items += dataset_items(spec)
    return items
